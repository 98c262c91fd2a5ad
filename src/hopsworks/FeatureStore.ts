import { Context, Effect, Layer, Option, Redacted } from "effect"
import { KafkaConfig, type KafkaSettings, producerClientConfig } from "../config/KafkaConfig.ts"
import { ItemsRejected } from "../domain/ItemsRejected.ts"
import { KafkaClient } from "../kafka/KafkaClient.ts"
import type { KafkaError } from "../kafka/KafkaError.ts"
import { kafkaSinkLayer } from "../kafka/KafkaLayer.ts"
import type { OutgoingRecord } from "../kafka/KafkaRecord.ts"
import { KafkaSink } from "../kafka/KafkaSink.ts"
import { makeFeatureGroupEncoder, RowEncodingError } from "./FeatureGroupWriter.ts"
import {
  type FeatureGroupSpec,
  HopsworksClient,
  type KafkaConnection,
  type MaterializationExecution,
  type ResolvedFeatureGroup
} from "./HopsworksClient.ts"
import type { HopsworksError } from "./HopsworksError.ts"

/** Writes rows of one feature group: Avro on its online topic, with the headers Hopsworks routes by. */
interface FeatureGroupSink {
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
  /** Starts the offline materialization ("backfill") job of an existing feature group. */
  readonly materialize: (name: string, version: number) => Effect.Effect<MaterializationExecution, HopsworksError>
}>()("tributary/hopsworks/FeatureStore") {
  /** Hopsworks: metadata over REST; rows produced to the Kafka cluster Hopsworks names, with its credentials. */
  static readonly layer = Layer.effect(
    FeatureStore,
    Effect.gen(function*() {
      const client = yield* HopsworksClient
      const connection = yield* client.kafkaConnection()
      yield* Effect.logInfo(
        `feature store Kafka: ${connection.bootstrapServers.join(",")} (${connection.securityProtocol})`
      )
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
        materialize: (name, version) =>
          Effect.flatMap(client.getFeatureGroup(name, version), client.startMaterialization)
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
        return rejected.length > 0 ? Effect.fail(new ItemsRejected({ items: rejected })) : sink.send(records)
      })
  }
}

const featureStoreKafkaConfig = (connection: KafkaConnection, producerClient: KafkaSettings["producerClient"]) =>
  KafkaConfig.layerWith({
    brokers: connection.bootstrapServers,
    clientId: "tributary-feature-store",
    producerClient,
    ssl: Option.map(connection.tls, (tls) => ({
      ca: Option.some({ _tag: "Inline" as const, pem: redactedText(tls.ca) }),
      cert: Option.some({ _tag: "Inline" as const, pem: redactedText(tls.cert) }),
      key: Option.some({ _tag: "Inline" as const, pem: tls.key }),
      rejectUnauthorized: true,
      // Hopsworks sets no endpoint identification for its brokers.
      verifyHostname: false
    }))
  })

const redactedText = (text: string) => Redacted.make(text)
