import { Effect, Layer } from "effect"
import { featureStoreFromConfig } from "../hopsworks/FeatureStoreLayer.ts"
import { isEmbedded, kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { PipelineRegistry } from "../observability/PipelineStats.ts"
import { type AnyPipeline, runPipelineWith } from "../runner/PipelineDefinition.ts"

/** Everything a pipeline needs, chosen from configuration (real services, or the embedded demo's). */
export const appLayer = Layer.mergeAll(featureStoreFromConfig, PipelineRegistry.layer).pipe(
  Layer.provideMerge(kafkaFromConfig)
)

/**
 * A pipeline's own services (its stores): the real ones, or — in the embedded demo, with no Kafka
 * configured — the in-memory ones. The only place that chooses between them.
 */
export const adaptersLayer = (definition: AnyPipeline, settings: unknown): Layer.Layer<any, unknown> => {
  if (definition.adapters === undefined) return Layer.empty as unknown as Layer.Layer<any, unknown>
  const adapters = definition.adapters(settings)
  return Layer.unwrap(Effect.map(isEmbedded, (embedded) => embedded ? adapters.layerInMemory : adapters.layer))
}

/** Runs a pipeline with its settings from configuration, over the app layer and its adapters. */
export const runPipeline = (definition: AnyPipeline) =>
  Effect.gen(function*() {
    const settings = yield* definition.settings
    yield* runPipelineWith(definition, settings).pipe(Effect.provide(adaptersLayer(definition, settings)))
  })

/** A pipeline's one-time set-up (`setup feature-group <name>`), with its adapters. */
export const setupPipeline = (definition: AnyPipeline) =>
  Effect.gen(function*() {
    if (definition.setup === undefined) return false
    const settings = yield* definition.settings
    yield* definition.setup(settings).pipe(Effect.scoped, Effect.provide(adaptersLayer(definition, settings)))
    return true
  })
