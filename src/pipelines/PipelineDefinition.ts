import type { Config, Effect, Scope } from "effect"
import type { SimulatorSettings } from "../config/SimulatorConfig.ts"
import type { FeatureStore } from "../hopsworks/FeatureStore.ts"
import type { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import type { KafkaSink } from "../kafka/KafkaSink.ts"
import type { KafkaSource } from "../kafka/KafkaSource.ts"
import type { PipelineRegistry } from "../observability/PipelineStats.ts"

/** What every pipeline may use; pipelines with their own stores (PostgreSQL, Cassandra) build those themselves. */
export type PipelineServices = KafkaSource | KafkaSink | KafkaAdmin | PipelineRegistry | FeatureStore

/**
 * One of the jobs Tributary runs. The CLI derives `run <name>`, `simulate <name>` and `setup ... <name>`
 * from these, and the embedded demo runs a pipeline together with its simulator.
 */
export interface PipelineDefinition {
  readonly name: string
  /** What its simulator generates: `simulate <input>` (e.g. `sensors`); `simulate <name>` works too. */
  readonly input: string
  readonly description: string
  /** Topics the pipeline consumes; `run` creates missing ones. */
  readonly sourceTopics: Effect.Effect<ReadonlyArray<string>, Config.ConfigError>
  /** Runs until interrupted. */
  readonly run: Effect.Effect<void, unknown, PipelineServices | Scope.Scope>
  /** Publishes simulated input (rate, count, seed, malformed share); returns how many records it published. */
  readonly simulate: (settings: SimulatorSettings) => Effect.Effect<number, unknown, KafkaSink | Scope.Scope>
  /** One-time set-up (feature group, tables): idempotent. */
  readonly setup?: Effect.Effect<void, unknown, PipelineServices | Scope.Scope> | undefined
}
