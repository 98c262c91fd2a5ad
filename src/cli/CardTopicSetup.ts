import { NodeHttpClient } from "@effect/platform-node"
import { Config, Effect, Layer, Option } from "effect"
import { type CardTopicSettings, cardTopicSettings } from "../config/CardAggregatesConfig.ts"
import { HopsworksConfig, type HopsworksSettings, hopsworksSettings } from "../config/HopsworksConfig.ts"
import { HopsworksClient } from "../hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"

/** The source topic's record schema, registered with the topic in Hopsworks like the seed's `kafka_topic.py`. */
export const cardTransactionAvroSchema = (topic: string): string =>
  JSON.stringify({
    type: "record",
    name: topic.replace(/[^A-Za-z0-9_]/g, "_").replace(/^([^A-Za-z_])/, "_$1"),
    namespace: "io.hops.examples.flink.examples",
    doc: "Documents the JSON records of the topic (Tributary publishes and reads JSON, keyed by cc_num).",
    fields: [
      { name: "tid", type: ["null", "string"] },
      { name: "datetime", type: ["null", "long"] },
      { name: "cc_num", type: ["null", "long"] },
      { name: "amount", type: ["null", "double"] }
    ]
  })

export interface CardTopicResult {
  readonly topic: string
  /** `hopsworks`: created through the project's REST API; `kafka`: with the Kafka admin client. */
  readonly via: "hopsworks" | "kafka"
  /** Known only through Hopsworks (409 = already there); the admin client creates missing topics silently. */
  readonly created: boolean | undefined
}

const hopsworksClientLayer = (settings: HopsworksSettings) =>
  HopsworksClient.layer.pipe(
    Layer.provide(Layer.mergeAll(
      Layer.succeed(HopsworksConfig, HopsworksConfig.of(Option.some(settings))),
      NodeHttpClient.layerUndiciOptions(HopsworksClient.httpClientOptions(settings))
    ))
  )

/**
 * Creates the source topic: through Hopsworks' REST API when a Hopsworks project is given (its
 * Kafka only accepts topics made that way; the Avro schema is registered as the subject of the same
 * name first, as the seed's `kafka_topic.py` does), otherwise with the Kafka admin client. Idempotent.
 */
export const setupCardTopicWith = Effect.fn("CardAggregates.setupCardTopic")(function*(
  topic: CardTopicSettings,
  hopsworks: Option.Option<HopsworksSettings>
) {
  if (Option.isSome(hopsworks)) {
    const { created } = yield* Effect.flatMap(HopsworksClient, (client) =>
      client.createKafkaTopic({
        name: topic.topic,
        partitions: topic.partitions,
        replicas: topic.replicationFactor,
        schema: { subject: topic.topic, avroSchema: cardTransactionAvroSchema(topic.topic) }
      })).pipe(Effect.provide(hopsworksClientLayer(hopsworks.value)))
    yield* Effect.logInfo(
      `topic ${topic.topic} ${created ? "created" : "already exists"} in Hopsworks project ${hopsworks.value.project}`
    )
    return { topic: topic.topic, via: "hopsworks", created } satisfies CardTopicResult as CardTopicResult
  }
  const admin = yield* KafkaAdmin
  yield* admin.createTopics([{
    topic: topic.topic,
    partitions: topic.partitions,
    replicationFactor: topic.replicationFactor
  }])
  yield* Effect.logInfo(`topic ${topic.topic} is there (${topic.partitions} partitions if it was created now)`)
  return { topic: topic.topic, via: "kafka", created: undefined } satisfies CardTopicResult as CardTopicResult
})

/** `setup topic` for seed 001, from configuration (CARD_TRANSACTIONS_TOPIC, HOPSWORKS_*). */
export const setupCardTopic = Effect.flatMap(
  Config.all({ topic: cardTopicSettings, hopsworks: hopsworksSettings }),
  ({ hopsworks, topic }) => setupCardTopicWith(topic, hopsworks)
)
