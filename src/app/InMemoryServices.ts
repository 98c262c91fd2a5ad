import { Layer } from "effect"
import { localFeatureStoreLayer } from "../hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../kafka/InMemoryBroker.ts"
import { PipelineRegistry } from "../observability/PipelineStats.ts"

/**
 * Everything a pipeline needs (PipelineServices), in process memory: a fresh in-memory broker (exposed
 * as `InMemoryBroker` to produce into and read back), the local feature store writing to it (its online
 * rows readable through `OnlineTables`), and a stats registry. Record timestamps and the runner's ticks
 * follow the Clock in context, so tests can drive it with TestClock. A pipeline's own adapters are
 * provided on top (`definition.adapters(settings).layerInMemory`).
 */
export const inMemoryServices = (
  options?: { readonly defaultPartitions?: number; readonly maxBatchSize?: number }
) =>
  Layer.mergeAll(localFeatureStoreLayer, PipelineRegistry.layer).pipe(
    Layer.provideMerge(InMemoryBroker.layerWithKafka(options))
  )
