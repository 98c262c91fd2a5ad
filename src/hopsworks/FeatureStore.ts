import { Context, Effect, Layer, Option, Redacted } from "effect"
import { KafkaConfig, type KafkaSettings, type Pem, producerClientConfig } from "../config/KafkaConfig.ts"
import { ItemsRejected } from "../domain/ItemsRejected.ts"
import { KafkaClient } from "../kafka/KafkaClient.ts"
import { KafkaError } from "../kafka/KafkaError.ts"
import { kafkaSinkLayer } from "../kafka/KafkaLayer.ts"
import type { OutgoingRecord } from "../kafka/KafkaRecord.ts"
import { KafkaSink } from "../kafka/KafkaSink.ts"
import type { FailureKind } from "../shared/Retry.ts"
import { makeFeatureGroupEncoder, RowEncodingError } from "./FeatureGroupWriter.ts"
import {
  type FeatureGroupSpec,
  HopsworksClient,
  type KafkaConnection,
  type MaterializationExecution,
  type MaterializationOptions,
  type ResolvedFeatureGroup
} from "./HopsworksClient.ts"
import type { HopsworksError } from "./HopsworksError.ts"

/** Writes rows of one feature group: Avro on its online topic, with the headers Hopsworks routes by. */
export interface FeatureGroupSink {
  readonly featureGroup: ResolvedFeatureGroup
  /**
   * Succeeds once every row is acknowledged by the feature store's Kafka; fails with ItemsRejected
   * (nothing sent) when rows do not fit the feature group's schema.
   */
  readonly write: (
    rows: ReadonlyArray<Readonly<Record<string, unknown>>>
  ) => Effect.Effect<void, KafkaError | ItemsRejected>
}

/**
 * The feature store as pipelines see it: Hopsworks over REST + its Kafka (`layer`), or the local
 * emulator of the embedded demo (see LocalFeatureStore). Both use the same encoder.
 */
export class FeatureStore extends Context.Service<FeatureStore, {
  /** Get-or-create the feature group and a writer for it. Idempotent. */
  readonly featureGroup: (spec: FeatureGroupSpec) => Effect.Effect<FeatureGroupSink, HopsworksError>
  /** Starts the offline materialization ("backfill") job of an existing feature group, unless it is running. */
  readonly materialize: (
    name: string,
    version: number,
    options?: MaterializationOptions
  ) => Effect.Effect<MaterializationExecution, HopsworksError>
}>()("tributary/hopsworks/FeatureStore") {
  /** Hopsworks: metadata over REST; rows produced to the Kafka cluster Hopsworks names, with its credentials. */
  static readonly layer = Layer.effect(
    FeatureStore,
    Effect.gen(function*() {
      const client = yield* HopsworksClient
      const connection = yield* client.kafkaConnection()
      yield* Effect.logInfo(describeConnection(connection))
      const producerClient = yield* producerClientConfig
      // Fresh: layers are memoised by identity, and the service's own KafkaClient/KafkaSink (on the
      // source cluster) must not stand in for the ones on the cluster Hopsworks names.
      const sink = yield* Layer.build(Layer.fresh(
        kafkaSinkLayer.pipe(
          Layer.provide(KafkaClient.layer),
          Layer.provideMerge(featureStoreKafkaConfig(connection, producerClient))
        )
      )).pipe(Effect.map(Context.get(KafkaSink)))
      return FeatureStore.of({
        featureGroup: (spec) =>
          Effect.gen(function*() {
            const featureGroup = yield* client.resolveFeatureGroup(spec)
            const onlineIngestionId = featureGroup.onlineEnabled
              ? yield* client.createOnlineIngestion(featureGroup, null)
              : Option.none()
            return writerFor(featureGroup, onlineIngestionId, sink)
          }),
        materialize: (name, version, options) =>
          Effect.flatMap(client.getFeatureGroup(name, version), (fg) => client.startMaterialization(fg, options))
      })
    })
  )
}

/** Encodes every row; rows that do not fit are listed by index with the encoder's reason. */
const encodeRows = (
  encodeRow: (row: Readonly<Record<string, unknown>>) => OutgoingRecord,
  rows: ReadonlyArray<Readonly<Record<string, unknown>>>
) => {
  const records: Array<OutgoingRecord> = []
  const rejected: Array<{ index: number; reason: string }> = []
  for (let i = 0; i < rows.length; i++) {
    try {
      records.push(encodeRow(rows[i]!))
    } catch (error) {
      if (!(error instanceof RowEncodingError)) throw error
      rejected.push({ index: i, reason: error.message })
    }
  }
  return { records, rejected }
}

/** One encoder per feature group (compiled once); encoding happens inside the write, as one batch. */
export const writerFor = (
  featureGroup: ResolvedFeatureGroup,
  onlineIngestionId: Option.Option<number>,
  sink: KafkaSink["Service"]
): FeatureGroupSink => {
  const encoder = makeFeatureGroupEncoder(
    featureGroup,
    Option.isSome(onlineIngestionId) ? { onlineIngestionId: onlineIngestionId.value } : {}
  )
  return {
    featureGroup,
    // A row that does not fit the feature group's schema (a string with no UTF-8 form, a value out of
    // range) is that row's problem: the write names it and sends nothing, the runner dead-letters it.
    write: (rows) =>
      Effect.suspend((): Effect.Effect<void, KafkaError | ItemsRejected> => {
        const { records, rejected } = encodeRows(encoder.encodeRow, rows)
        if (rejected.length > 0) return Effect.fail(new ItemsRejected({ items: rejected }))
        return Effect.mapError(sink.send(records), (error) => explainAuthorization(error, featureGroup))
      })
  }
}

/** Kafka's answers that mean "these credentials may not do this": waiting does not change them. */
const authorizationErrors = new Set([
  "TOPIC_AUTHORIZATION_FAILED",
  "GROUP_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "SASL_AUTHENTICATION_FAILED"
])

/**
 * The Kafka error code behind a failure when it is an authorization one (kafkajs puts it in `type`,
 * @platformatic/kafka in `apiId`, possibly inside `errors` or `cause`), else undefined.
 */
export const kafkaAuthorizationFailure = (error: unknown, depth = 0): string | undefined => {
  if (typeof error !== "object" || error === null || depth > 5) return undefined
  const e = error as { type?: unknown; apiId?: unknown; name?: unknown; cause?: unknown; errors?: unknown }
  for (const id of [e.type, e.apiId]) if (typeof id === "string" && authorizationErrors.has(id)) return id
  if (e.name === "KafkaJSSASLAuthenticationError") return "SASL_AUTHENTICATION_FAILED"
  const nested = [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]
  for (const inner of nested) {
    const found = kafkaAuthorizationFailure(inner, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * How a pipeline writing a feature group should treat a failed write (`classify` of its output):
 * rows that do not fit are the records' fault; Kafka refusing the project's credentials (the user is
 * not allowed to write the feature group's topic) is permanent, so the pipeline stops with the error
 * instead of retrying forever; anything else (an outage) is transient.
 */
export const classifyFeatureGroupWrite = (error: KafkaError | ItemsRejected): FailureKind =>
  error._tag === "ItemsRejected"
    ? "rejected"
    : kafkaAuthorizationFailure(error) === undefined
    ? "transient"
    : "permanent"

/** An authorization failure said in one line that names the topic and what to check (the cause is kept). */
const explainAuthorization = (error: KafkaError, fg: ResolvedFeatureGroup): KafkaError => {
  const code = kafkaAuthorizationFailure(error)
  if (code === undefined) return error
  return new KafkaError({
    operation: error.operation,
    message: `Kafka refused to let this service write feature group ${fg.name} v${fg.version} to topic ` +
      `${fg.onlineTopicName} (${code}): the credentials Hopsworks handed out may not write it. Check that the ` +
      "API key's user is a member of the project that owns the feature store (Hopsworks grants topic access to " +
      "project members), or, for your own Kafka, the ACLs of the connector's user. Not retried.",
    cause: error
  })
}

/**
 * The Kafka settings of the cluster Hopsworks names: its brokers, and TLS and SASL as the connection
 * says (see HopsworksClient.kafkaConnection); the client ids and timeouts are this service's.
 */
export const featureStoreKafkaSettings = (
  connection: KafkaConnection,
  producerClient: KafkaSettings["producerClient"]
): Parameters<typeof KafkaConfig.layerWith>[0] => ({
  brokers: connection.bootstrapServers,
  clientId: "tributary-feature-store",
  producerClient,
  ssl: Option.map(connection.tls, (tls) => ({
    ca: inlinePem(tls.ca),
    cert: inlinePem(tls.cert),
    key: Option.map(Option.fromUndefinedOr(tls.key), (pem) => ({ _tag: "Inline" as const, pem })),
    pfx: tls.pfx,
    rejectUnauthorized: true,
    verifyHostname: tls.verifyHostname
  })),
  sasl: connection.sasl
})

const featureStoreKafkaConfig = (connection: KafkaConnection, producerClient: KafkaSettings["producerClient"]) =>
  KafkaConfig.layerWith(featureStoreKafkaSettings(connection, producerClient))

const inlinePem = (text: string | undefined): Option.Option<Pem> =>
  text === undefined ? Option.none() : Option.some({ _tag: "Inline", pem: Redacted.make(text) })

/** The connection in one line for the start-up log: protocol, SASL user (never the password), trust. */
export const describeConnection = (connection: KafkaConnection): string => {
  const parts: Array<string> = [connection.externalKafka ? "your own Kafka" : "Hopsworks' Kafka"]
  for (const sasl of Option.toArray(connection.sasl)) parts.push(`SASL ${sasl.mechanism} as ${sasl.username}`)
  for (const tls of Option.toArray(connection.tls)) {
    parts.push(tls.ca === undefined ? "TLS trusting the public CAs" : "TLS trusting the given CA")
    if (tls.cert !== undefined || tls.pfx !== undefined) parts.push("client certificate")
    if (!tls.verifyHostname) parts.push("host names not checked")
  }
  return `feature store Kafka: ${connection.bootstrapServers.join(",")} (${connection.securityProtocol}: ${
    parts.join(", ")
  })`
}
