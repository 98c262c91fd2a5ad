import { Layer } from "effect"
import { randomUUID } from "node:crypto"
import { inject } from "vitest"
import { KafkaConfig, type KafkaSettings } from "../../src/config/KafkaConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSinkLayer, kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"

/** The real local broker started by scripts/kafka.sh (see test/support/globalSetup.ts). */
export const kafkaBootstrap = (): string => inject("kafkaBootstrap")

/** KafkaSource, KafkaSink (on the client `producerClient` names, kafkajs by default), KafkaAdmin over the real local broker. */
export const realKafkaLayer = (
  settings: {
    readonly maxBufferedRecords?: number
    readonly producerClient?: "kafkajs" | "platformatic"
    /** Another broker than the shared test one. */
    readonly brokers?: ReadonlyArray<string>
  } = {}
) =>
  // Fresh: layers are memoised by identity, so a nested provide would otherwise reuse an outer one's
  // clients (built with other settings).
  Layer.fresh(
    Layer.mergeAll(KafkaSource.layer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
      Layer.provideMerge(KafkaClient.layer),
      // The source here is kafkajs' (KafkaSource.layer), and transactions follow the consumer's client.
      Layer.provideMerge(KafkaConfig.layerWith({
        producerClient: "platformatic",
        ...settings,
        client: "kafkajs",
        brokers: settings.brokers ?? [kafkaBootstrap()]
      }))
    )
  )

/** The services as the service builds them with KAFKA_CLIENT=platformatic (the default), over the real local broker. */
export const platformaticKafkaLayer = (settings: Partial<Omit<KafkaSettings, "brokers" | "client">> = {}) =>
  Layer.fresh(
    Layer.mergeAll(kafkaSourceLayer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
      Layer.provideMerge(KafkaClient.layer),
      Layer.provideMerge(KafkaConfig.layerWith({
        producerClient: "platformatic",
        ...settings,
        client: "platformatic",
        brokers: [kafkaBootstrap()]
      }))
    )
  )

/** Topic and group names no other test (or earlier run) uses. */
export const uniqueName = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`
