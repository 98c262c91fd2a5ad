import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { inject } from "vitest"
import { transactionsSettings } from "../../src/config/PipelineConfig.ts"
import { FeatureStore } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { headerString } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { frame } from "../../src/schema-registry/ConfluentWireFormat.ts"
import { makeSchemaRegistryClient } from "../../src/schema-registry/SchemaRegistryClient.ts"
import { makeAvroFramer } from "../../src/simulator/AvroFramer.ts"
import { readTopic, subjectDecoder } from "../support/FeatureGroupTopic.ts"
import { makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"
import { simulateTransactions, validTransactions } from "../support/TransactionsFixture.ts"

const registryUrl = () => inject("schemaRegistryUrl")

describe("Confluent-framed Avro input: real schema registry (Apicurio) + real Kafka", () => {
  it.live(
    "the transactions pipeline writes the same feature rows as from JSON, and bad frames are dead-lettered with reasons",
    () =>
      Effect.gen(function*() {
        const hw = yield* makeLocalHopsworks({
          kafkaBootstrap: kafkaBootstrap(),
          project: uniqueName("proj").replace("-", "_")
        })
        const topic = uniqueName("avro-transactions")
        const registry = yield* makeSchemaRegistryClient({ url: registryUrl(), requestTimeoutMs: 5_000 })

        // The simulator's records, registered and framed as a Confluent producer would (its malformed
        // JSON stays unframed), plus frames that are broken in each way a record can be.
        const input = simulateTransactions(600, 0.05)
        const valid = validTransactions(input)
        const framed = yield* makeAvroFramer(registry, topic)(input.map((r) => ({ topic, key: r.key, value: r.value })))
        const someId = framed.map((r) => (r.value as Buffer)).find((v) => v[0] === 0)!.readUInt32BE(1)
        const bad = [
          { value: Buffer.from([1, 0, 0, 0, 1, 2]), reason: /magic byte is 0x01/ },
          { value: Buffer.from([0, 0, 0]), reason: /truncated Confluent frame/ },
          { value: frame(2_000_000_000, Buffer.from([2, 0x61])), reason: /unknown schema id 2000000000/ },
          {
            value: frame(someId, Buffer.from([0xff, 0xff, 0xff])),
            reason: new RegExp(`not Avro of schema id ${someId}`)
          }
        ]
        const records = [...framed, ...bad.map((b, i) => ({ topic, key: `bad-${i}`, value: b.value }))]
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
        yield* (yield* KafkaSink).send(records)
        const malformedCount = input.length - valid.length + bad.length

        const settings = settingsFrom(transactionsSettings, {
          KAFKA_TOPIC: topic,
          KAFKA_GROUP_ID: uniqueName("avro-group"),
          INPUT_FORMAT: "Confluent-Avro",
          SCHEMA_REGISTRY_URL: registryUrl()
        })
        const pipeline = yield* runTransactionsPipeline(settings).pipe(
          Effect.scoped,
          Effect.provide(
            Layer.mergeAll(FeatureStore.layer, PipelineRegistry.layer).pipe(
              Layer.provide(HopsworksClient.layer),
              Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici)),
              Layer.provideMerge(realKafkaLayer())
            )
          ),
          Effect.forkChild
        )
        const rows = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= valid.length)
        const dlq = yield* readTopic(`${topic}.dlq`, (rs) => rs.length >= malformedCount)
        yield* Effect.sleep("500 millis")
        yield* Fiber.interrupt(pipeline)

        const [fg] = hw.featureGroups()
        const decode = subjectDecoder(fg!.subject.schema)
        assert.strictEqual(rows.length, valid.length, "one feature row per valid record")
        assert.deepStrictEqual(
          rows.map((r) => decode(r.value!)).toSorted((a, b) =>
            String(a["transaction_id"]).localeCompare(String(b["transaction_id"]))
          ),
          valid.toSorted((a, b) => a.transaction_id.localeCompare(b.transaction_id)).map((t) => ({ ...t })),
          "the rows JSON input gives"
        )

        assert.strictEqual(dlq.length, malformedCount, "every malformed record dead-lettered once")
        for (const [i, b] of bad.entries()) {
          const letter = dlq.find((r) => r.key?.toString() === `bad-${i}`)
          assert.isDefined(letter, `bad frame ${i} dead-lettered`)
          assert.match(headerString(letter!, DeadLetterHeaders.reason) ?? "", b.reason)
          assert.deepStrictEqual(letter!.value, b.value, "the original bytes")
        }
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    50_000
  )
})
