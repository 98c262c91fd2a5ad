import { type Config, Effect, Layer, Option } from "effect"
import { KafkaConfig, kafkaSettings } from "../config/KafkaConfig.ts"
import { InMemoryBroker } from "./InMemoryBroker.ts"
import { KafkaAdmin } from "./KafkaAdmin.ts"
import { KafkaClient } from "./KafkaClient.ts"
import { KafkaError } from "./KafkaError.ts"
import { KafkaSink, makeKafkajsSend, makeKafkajsTransactional } from "./KafkaSink.ts"
import { KafkaSource } from "./KafkaSource.ts"
import { makePlatformaticSend } from "./PlatformaticSink.ts"
import { platformaticSourceLayer } from "./PlatformaticSource.ts"
import { makePlatformaticTransactional } from "./PlatformaticTransactions.ts"

export type KafkaServices = KafkaSource | KafkaSink | KafkaAdmin

/**
 * The sink: plain sends on the client KAFKA_PRODUCER_CLIENT names (default: KAFKA_CLIENT's), transactions
 * on the consumer's client (KAFKA_CLIENT), since a transaction commits offsets as the consumer's group
 * member (platformatic; kafkajs cannot).
 */
export const kafkaSinkLayer = Layer.effect(
  KafkaSink,
  Effect.gen(function*() {
    const settings = yield* KafkaConfig
    return KafkaSink.of({
      send: yield* (settings.producerClient === "platformatic" ? makePlatformaticSend : makeKafkajsSend),
      transactional: yield* (settings.client === "platformatic"
        ? makePlatformaticTransactional
        : makeKafkajsTransactional)
    })
  })
)

/**
 * The consumer-group source on the client KAFKA_CLIENT names. kafkajs has no static membership: asked for
 * it, start-up fails (the configuration already refuses it; this covers settings built in code).
 */
export const kafkaSourceLayer = Layer.unwrap(
  Effect.map(KafkaConfig, (s) =>
    s.client === "platformatic"
      ? platformaticSourceLayer
      : Option.isSome(s.groupInstanceId)
      ? Layer.effect(
        KafkaSource,
        Effect.fail(
          new KafkaError({
            operation: "configuration",
            message: "KAFKA_GROUP_INSTANCE_ID: kafkajs cannot do static membership; set KAFKA_CLIENT=platformatic"
          })
        )
      )
      : KafkaSource.layer)
)

/** The services for the configured cluster (admin on kafkajs), waiting (with backoff) until it answers. */
export const kafkaLive = Layer.mergeAll(kafkaSourceLayer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
  Layer.provide(Layer.effectDiscard(KafkaClient.awaitReady())),
  Layer.provideMerge(KafkaClient.layer),
  Layer.provide(KafkaConfig.layer)
)

/** Real Kafka when KAFKA_BOOTSTRAP_SERVERS is set, otherwise the in-memory broker (the embedded demo). */
export const kafkaFromConfig = Layer.unwrap(
  Effect.map(
    kafkaSettings,
    (settings): Layer.Layer<KafkaServices, Config.ConfigError | KafkaError> =>
      Option.isSome(settings.brokers)
        ? kafkaLive
        : InMemoryBroker.layerWithKafka({ defaultPartitions: 3 })
  )
)

/** True when no Kafka is configured and the service runs its embedded demo. */
export const isEmbedded = Effect.map(kafkaSettings, (s) => Option.isNone(s.brokers))
