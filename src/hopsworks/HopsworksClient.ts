import { Context, Effect, Layer, Option } from "effect"
import { HttpClient } from "effect/http"
import { HopsworksConfig, type HopsworksSettings } from "../config/HopsworksConfig.ts"
import { HopsworksError, NotConfigured } from "./HopsworksError.ts"
import type {
  FeatureGroupSpec,
  KafkaConnection,
  KafkaTopicSpec,
  MaterializationExecution,
  MaterializationOptions,
  ResolvedFeatureGroup
} from "./HopsworksModel.ts"
import { makeFeatureGroupApi } from "./internal/FeatureGroupApi.ts"
import { type HttpRetryOptions, makeHopsworksHttp } from "./internal/HopsworksHttp.ts"
import { makeJobApi } from "./internal/JobApi.ts"
import { makeKafkaApi } from "./internal/KafkaApi.ts"
import { makeProjectContext } from "./internal/ProjectContext.ts"

/** The model types of this interface, so that callers import them from the client. */
export type * from "./HopsworksModel.ts"

/**
 * Hopsworks over REST: the metadata a pipeline needs to write a stream feature group through Kafka.
 * The transport (auth, timeouts, retries, status meanings) is `internal/HopsworksHttp`; each
 * endpoint group lives in its own `internal/*Api` file.
 */
export class HopsworksClient extends Context.Service<HopsworksClient, {
  /** Get-or-create the stream feature group, then fetch its latest Avro subject. */
  readonly resolveFeatureGroup: (spec: FeatureGroupSpec) => Effect.Effect<ResolvedFeatureGroup, HopsworksError>
  /** Look up an existing feature group (reason `FeatureGroupNotFound` when it does not exist). */
  readonly getFeatureGroup: (name: string, version: number) => Effect.Effect<ResolvedFeatureGroup, HopsworksError>
  /** Bootstrap servers, protocol and (managed Kafka) the project user's TLS material. */
  readonly kafkaConnection: () => Effect.Effect<KafkaConnection, HopsworksError>
  /** `onlineIngestionId` for the headers; None when the FG is offline-only or the server predates 4.2. */
  readonly createOnlineIngestion: (
    fg: ResolvedFeatureGroup,
    numEntries: number | null
  ) => Effect.Effect<Option.Option<number>, HopsworksError>
  /**
   * Starts the offline materialization job of the feature group, unless an execution of it is still
   * running (reason `MaterializationRunning`); never two executions for one call.
   */
  readonly startMaterialization: (
    fg: ResolvedFeatureGroup,
    options?: MaterializationOptions
  ) => Effect.Effect<MaterializationExecution, HopsworksError>
  /** Creates a project Kafka topic (an existing one is fine: `created: false`). */
  readonly createKafkaTopic: (spec: KafkaTopicSpec) => Effect.Effect<{ readonly created: boolean }, HopsworksError>
}>()("tributary/hopsworks/HopsworksClient") {
  /** Needs `HttpClient` (e.g. `NodeHttpClient.layerUndici`) and `HopsworksConfig`. */
  static readonly layer = Layer.effect(HopsworksClient, Effect.suspend(() => make({})))

  /** Same, with retry tuning (tests use a fast schedule). */
  static readonly layerWith = (options: HttpRetryOptions) =>
    Layer.effect(HopsworksClient, Effect.suspend(() => make(options)))

  /**
   * Undici agent options for `NodeHttpClient.layerUndiciOptions(...)` that honour
   * HOPSWORKS_HOSTNAME_VERIFICATION (false: the server certificate is not verified, like the Python
   * client's `hostname_verification=False`) and HOPSWORKS_CA / HOPSWORKS_CA_FILE (verified against
   * that CA instead of the public ones).
   */
  static readonly httpClientOptions = (
    settings: Pick<HopsworksSettings, "hostnameVerification" | "trustedCa">
  ) => {
    if (!settings.hostnameVerification) return { connect: { rejectUnauthorized: false } }
    return settings.trustedCa === undefined ? {} : { connect: { ca: settings.trustedCa } }
  }
}

const make = Effect.fnUntraced(function*(options: HttpRetryOptions) {
  const configured = yield* HopsworksConfig
  if (Option.isNone(configured)) return yield* new HopsworksError({ reason: new NotConfigured() })
  const http = makeHopsworksHttp(configured.value, yield* HttpClient.HttpClient, options)
  const context = yield* makeProjectContext(http)
  return HopsworksClient.of({
    ...makeFeatureGroupApi(http, context),
    ...makeKafkaApi(http, context),
    ...makeJobApi(http, context)
  })
})
