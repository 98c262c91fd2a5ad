import { NodeHttpClient } from "@effect/platform-node"
import { type Config, Effect, Layer, Option } from "effect"
import { HopsworksConfig, hopsworksSettings } from "../config/HopsworksConfig.ts"
import type { KafkaError } from "../kafka/KafkaError.ts"
import type { KafkaServices } from "../kafka/KafkaLayer.ts"
import { FeatureStore } from "./FeatureStore.ts"
import { HopsworksClient } from "./HopsworksClient.ts"
import type { HopsworksError } from "./HopsworksError.ts"
import { localFeatureStoreLayer, OnlineTables } from "./LocalFeatureStore.ts"

/** Hopsworks when HOPSWORKS_HOST is set, otherwise the local emulator writing to the app's Kafka. */
export const featureStoreFromConfig = Layer.unwrap(
  Effect.map(
    hopsworksSettings,
    (
      settings
    ): Layer.Layer<FeatureStore | OnlineTables, Config.ConfigError | HopsworksError | KafkaError, KafkaServices> =>
      Option.isSome(settings)
        ? Layer.mergeAll(FeatureStore.layer, OnlineTables.layerRemote).pipe(
          Layer.provide(HopsworksClient.layer),
          Layer.provide(Layer.mergeAll(
            HopsworksConfig.layer,
            NodeHttpClient.layerUndiciOptions(HopsworksClient.httpClientOptions(settings.value))
          ))
        )
        : localFeatureStoreLayer
  )
)
