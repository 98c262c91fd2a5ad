import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { KafkaConfig } from "../../src/config/KafkaConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSinkLayer, kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { kafkaContract, takeRecords } from "../kafka/KafkaContract.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"

// kafkajs throughout (KAFKA_CLIENT=kafkajs): its transactions cannot commit as a group member.
kafkaContract(
  "Kafka services on the real local broker",
  (options) => realKafkaLayer({ ...options, producerClient: "kafkajs" }),
  { total: 100_000, fencesStaleMembers: false }
)

// The same contract with plain produces on @platformatic/kafka (KAFKA_PRODUCER_CLIENT=platformatic).
kafkaContract(
  "Kafka services on the real local broker, @platformatic/kafka producer",
  (options) => realKafkaLayer({ ...options, producerClient: "platformatic" }),
  { total: 100_000, fencesStaleMembers: false }
)

// KAFKA_CLIENT=platformatic (the default): consumer groups, produces and transactions on @platformatic/kafka
// (admin stays on kafkajs), chosen the way the service chooses them.
kafkaContract(
  "Kafka services on the real local broker, @platformatic/kafka source and producer",
  (options) =>
    Layer.fresh(
      Layer.mergeAll(kafkaSourceLayer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
        Layer.provideMerge(KafkaClient.layer),
        Layer.provideMerge(
          KafkaConfig.layerWith({
            ...options,
            client: "platformatic",
            producerClient: "platformatic",
            brokers: [kafkaBootstrap()]
          })
        )
      )
    ),
  { total: 100_000, fencesStaleMembers: true, cooperative: true }
)

describe("kafkajs source: start offsets kept outside Kafka that take longer than the session timeout", () => {
  it.live(
    "the member heartbeats while it waits: never evicted, one assignment, then every record",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("slow-start")
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
        yield* (yield* KafkaSink).send(Array.from({ length: 10 }, (_, i) => ({ topic, key: "k", value: String(i) })))
        const lookups = { started: 0 }
        const sub = yield* (yield* KafkaSource).subscribe({
          groupId: uniqueName("slow-start-group"),
          topics: [topic],
          // As a stored-offsets read that retries while PostgreSQL is down: 35 s, past the 30 s session timeout.
          startOffsets: (partitions) =>
            Effect.sync(() => lookups.started++).pipe(
              Effect.andThen(Effect.sleep("35 seconds")),
              Effect.as(partitions.map((p) => ({ ...p, offset: "3" })))
            )
        })
        const records = yield* takeRecords(sub, 7)
        assert.deepStrictEqual(records.map((r) => r.value?.toString()), ["3", "4", "5", "6", "7", "8", "9"])
        assert.strictEqual(lookups.started, 1, "looked up once: the member was never evicted and reassigned")
        assert.strictEqual(sub.connection?.rebalances, 1)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    120_000
  )
})
