import { Layer } from "effect"
import { featureStoreFromConfig } from "../hopsworks/FeatureStoreLayer.ts"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { PipelineRegistry } from "../observability/PipelineStats.ts"

/** Everything a pipeline needs, chosen from configuration (real services, or the embedded demo's). */
export const appLayer = Layer.mergeAll(featureStoreFromConfig, PipelineRegistry.layer).pipe(
  Layer.provideMerge(kafkaFromConfig)
)
