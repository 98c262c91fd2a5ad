import { type Config, Effect, type Layer, type Scope } from "effect"
import { inputSettings } from "../config/SchemaRegistryConfig.ts"
import type { SimulatorSettings } from "../config/SimulatorConfig.ts"
import type { FeatureStore } from "../hopsworks/FeatureStore.ts"
import type { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import type { KafkaSink } from "../kafka/KafkaSink.ts"
import type { KafkaSource } from "../kafka/KafkaSource.ts"
import type { PipelineRegistry } from "../observability/PipelineStats.ts"
import { makeSchemaRegistryClient } from "../schema-registry/SchemaRegistryClient.ts"
import { makeAvroFramer } from "../simulator/AvroFramer.ts"
import { publishAtRate } from "../simulator/Publisher.ts"
import type { Job } from "./Job.ts"
import { ensureTopics, runJob } from "./PipelineRunner.ts"

/** What every pipeline may use; services of its own (a database) come from its `adapters`. */
export type PipelineServices = KafkaSource | KafkaSink | KafkaAdmin | PipelineRegistry | FeatureStore

/**
 * A job of any types (checked where it was built). Jobs need no services of their own: they close
 * over what `jobs` resolved.
 */
export type AnyJob = Job<any, any, any, never>

/** What `simulate` publishes: keyed JSON records on the pipeline's source topic. */
export interface Simulation {
  readonly topic: string
  /** Records per second (the simulator settings' rate, scaled when one tick is several records). */
  readonly ratePerSecond: number
  readonly batch: (n: number, nowMs: number) => ReadonlyArray<{ readonly key: string; readonly value: string }>
}

/**
 * The real and in-memory implementations of the services a pipeline needs beyond PipelineServices.
 * The pipeline never chooses between them: the app layer does, once, at the edge.
 */
export interface Adapters<A> {
  readonly layer: Layer.Layer<A, unknown>
  readonly layerInMemory: Layer.Layer<A, unknown>
}

/**
 * One of the jobs Tributary runs, as data. The CLI derives `run <name>`, `simulate <input>` and
 * `setup ... <name>` from these; the runner interprets the jobs.
 */
export interface PipelineDefinition<S = any, A = never, R = never> {
  readonly name: string
  /** What its simulator generates: `simulate <input>` (e.g. `sensors`); `simulate <name>` works too. */
  readonly input: string
  readonly description: string
  readonly settings: Config.Config<S>
  /** Topics the pipeline consumes; `run` creates missing ones. */
  readonly sourceTopics: (settings: S) => ReadonlyArray<string>
  /** Services of its own (stores), real and in-memory. */
  readonly adapters?: ((settings: S) => Adapters<A>) | undefined
  /** The consumer groups it runs (resolving e.g. its feature group first); all run concurrently. */
  readonly jobs: (settings: S) => Effect.Effect<ReadonlyArray<AnyJob>, unknown, R | Scope.Scope>
  /** Its simulated input (`simulate`, and the embedded demo). */
  readonly simulate: (settings: S, simulator: SimulatorSettings) => Effect.Effect<Simulation, Config.ConfigError>
  /** One-time set-up (feature group, tables): idempotent. */
  readonly setup?: ((settings: S) => Effect.Effect<void, unknown, R | Scope.Scope>) | undefined
}

/** A definition whose settings and adapter types are erased (the registry's list). */
export type AnyPipeline = PipelineDefinition<any, any, any>

/**
 * `R`: what `jobs` and `setup` use — some of PipelineServices, and the adapters' `A` (the app layer
 * provides both).
 */
export const definePipeline = <S, A = never, R = never>(
  definition: PipelineDefinition<S, A, R>
): PipelineDefinition<S, A, R> => definition

/** Runs every job of a pipeline until interrupted; a job that fails stops the others. */
export const runPipelineWith = <S, A, R>(
  definition: PipelineDefinition<S, A, R>,
  settings: S
): Effect.Effect<void, unknown, R | KafkaSource | KafkaSink | KafkaAdmin | PipelineRegistry> =>
  Effect.gen(function*() {
    const jobs = yield* definition.jobs(settings)
    yield* Effect.all(jobs.map((job) => Effect.scoped(runJob(job))), { concurrency: "unbounded", discard: true })
  }).pipe(Effect.scoped, Effect.annotateLogs({ pipeline: definition.name }))

/** Publishes the pipeline's simulated input; returns how many records it published. */
export const simulatePipeline = <S, A, R>(definition: PipelineDefinition<S, A, R>, simulator: SimulatorSettings) =>
  Effect.gen(function*() {
    const simulation = yield* definition.simulate(yield* definition.settings, simulator)
    // Clusters that do not create topics on first use (most) need it before the first record.
    yield* ensureTopics([simulation.topic])
    // INPUT_FORMAT=confluent-avro: the same records, registered and framed as a Confluent producer would.
    const input = yield* inputSettings
    const encode = input.format === "json"
      ? undefined
      : makeAvroFramer(yield* makeSchemaRegistryClient(input.registry), simulation.topic)
    return yield* publishAtRate({
      ratePerSecond: simulation.ratePerSecond,
      count: simulator.count,
      make: (n, now) => simulation.batch(n, now).map((r) => ({ topic: simulation.topic, key: r.key, value: r.value })),
      encode
    })
  }).pipe(Effect.scoped)
