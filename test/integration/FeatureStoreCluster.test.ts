import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Fiber } from "effect"
import { afterAll, beforeAll } from "vitest"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { transactionsSettings } from "../../src/config/PipelineConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { extraBroker } from "../support/ExtraBroker.ts"
import { readTopic } from "../support/FeatureGroupTopic.ts"
import { makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import {
  produceRecords,
  simulateTransactions,
  transactionsServiceEnv,
  validTransactions
} from "../support/TransactionsFixture.ts"

// Hopsworks names its own Kafka cluster for feature-group rows; here it is a second broker, so rows
// that went to the service's source cluster instead would be seen missing.
const featureStore = extraBroker("kafka-fs", 29093)
const featureStoreBroker = featureStore.address

describe("feature-group rows go to the Kafka cluster Hopsworks names (second broker on port 29093)", () => {
  beforeAll(() => {
    featureStore.run("start")
  }, 160_000)
  afterAll(() => {
    featureStore.run("stop")
  }, 60_000)

  for (const producerClient of ["kafkajs", "platformatic"] as const) {
    it.live(`with the ${producerClient} producer, none on the service's own cluster`, () =>
      Effect.gen(function*() {
        const hw = yield* makeLocalHopsworks({
          kafkaBootstrap: featureStoreBroker,
          project: uniqueName("proj").replace("-", "_")
        })
        const topic = uniqueName("transactions")
        const input = simulateTransactions(2_000, 0)
        const valid = validTransactions(input)
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
        yield* produceRecords(topic, input)

        // The service's own composition (appLayer), configured from the environment as in production.
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, uniqueName("tx-group"), {
          KAFKA_PRODUCER_CLIENT: producerClient
        })
        const pipeline = yield* Effect.flatMap(transactionsSettings, runTransactionsPipeline).pipe(
          Effect.scoped,
          Effect.provide(appLayer),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
          Effect.forkChild
        )
        const rows = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= valid.length).pipe(
          Effect.provide(realKafkaLayer({ brokers: [featureStoreBroker] }))
        )
        yield* Fiber.interrupt(pipeline)
        assert.strictEqual(rows.length, valid.length, "every row on the feature store's cluster")
        // The topic does not exist on the service's cluster, or is empty there.
        const onServiceCluster = yield* Effect.exit((yield* KafkaAdmin).topicOffsets(hw.onlineTopic))
        const written = Exit.isSuccess(onServiceCluster)
          ? onServiceCluster.value.reduce((n, p) => n + Number(p.high), 0)
          : 0
        assert.strictEqual(written, 0, "nothing written to the service's source cluster")
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())), 180_000)
  }
})
