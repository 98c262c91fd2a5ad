import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { inject } from "vitest"
import { cardAggregatesSettings } from "../../src/config/CardAggregatesConfig.ts"
import { ecommerceSettings } from "../../src/config/EcommerceConfig.ts"
import { localFeatureStoreLayer } from "../../src/hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import {
  cardAggregatesPipeline,
  decodeCardTransactions
} from "../../src/pipelines/card-aggregates/CardAggregatesPipeline.ts"
import { decodeEcommerce, ecommercePipeline } from "../../src/pipelines/ecommerce/EcommercePipeline.ts"
import { makeSchemaRegistryClient } from "../../src/schema-registry/SchemaRegistryClient.ts"
import { makeAvroFramer } from "../../src/simulator/AvroFramer.ts"
import { CardTransactionsSimulator } from "../../src/simulator/CardTransactionsSimulator.ts"
import { EcommerceSimulator } from "../../src/simulator/EcommerceSimulator.ts"
import { EcommerceStore } from "../../src/sinks/postgres/EcommerceStore.ts"
import { SearchIndexer } from "../../src/sinks/search/SearchIndexer.ts"
import { uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const registryUrl = () => inject("schemaRegistryUrl")

const asRecords = (topic: string, values: ReadonlyArray<Buffer | string | null>): Array<KafkaRecord> =>
  values.map((value, i) => ({
    topic,
    partition: 0,
    offset: String(i),
    timestamp: 0,
    key: null,
    value: value === null ? null : Buffer.from(value),
    headers: {}
  }))

describe("INPUT_FORMAT=confluent-avro in a pipeline with several jobs (real registry)", () => {
  it.live(
    "each ecommerce job decodes registry-framed Avro to the rows JSON gives; one job dead-letters",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("avro-ecommerce")
        const simulator = new EcommerceSimulator(5, 0.05)
        const input = simulator.batch(200, Date.UTC(2024, 2, 30, 12))
        const registry = yield* makeSchemaRegistryClient({ url: registryUrl(), requestTimeoutMs: 5_000 })
        const framed = yield* makeAvroFramer(registry, topic)(input.map((r) => ({ topic, key: r.key, value: r.value })))
        const settings = settingsFrom(ecommerceSettings, {
          ECOMMERCE_TOPIC: topic,
          INPUT_FORMAT: "confluent-avro",
          SCHEMA_REGISTRY_URL: registryUrl()
        })
        const jobs = yield* ecommercePipeline.jobs(settings)
        const avroRecords = asRecords(topic, framed.map((r) => r.value as Buffer | string | null))
        const jsonRecords = asRecords(topic, input.map((r) => r.value))
        const fromJson = decodeEcommerce(jsonRecords)
        assert.isAbove(fromJson.valid.length, 150)
        assert.isAbove(fromJson.malformed.length, 0)

        assert.strictEqual(jobs.length, 3)
        for (const job of jobs) {
          assert.isDefined(job.resolveSchemas, `${job.name} resolves schemas`)
          yield* job.resolveSchemas!(avroRecords)
          const decoded = job.decode(avroRecords)
          assert.deepStrictEqual(decoded.valid.map((v) => v.value), fromJson.valid.map((v) => v.value), job.name)
          // Malformed input is dead-lettered once, by the PostgreSQL job; the other two ignore it.
          const malformed = decoded.malformed.map((m) => m.record.offset)
          if (job.name === "ecommerce") {
            assert.deepStrictEqual(
              malformed,
              fromJson.malformed.map((m) => m.record.offset)
            )
          } else assert.deepStrictEqual(malformed, [], job.name)
        }
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Layer.mergeAll(
            EcommerceStore.layerInMemory(),
            SearchIndexer.layerInMemory(),
            PipelineRegistry.layer,
            InMemoryBroker.layerWithKafka()
          )
        )
      ),
    30_000
  )

  it.live(
    "the card-aggregates job decodes registry-framed Avro to the records JSON gives",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("avro-cards")
        const input = new CardTransactionsSimulator({ seed: 9, malformedShare: 0.05 }).batch(
          200,
          Date.UTC(2024, 2, 30, 12)
        )
        const registry = yield* makeSchemaRegistryClient({ url: registryUrl(), requestTimeoutMs: 5_000 })
        const framed = yield* makeAvroFramer(registry, topic)(input.map((r) => ({ topic, key: r.key, value: r.value })))
        const settings = settingsFrom(cardAggregatesSettings, {
          CARD_TRANSACTIONS_TOPIC: topic,
          INPUT_FORMAT: "confluent-avro",
          SCHEMA_REGISTRY_URL: registryUrl()
        })
        const [job] = yield* cardAggregatesPipeline.jobs(settings)
        const avroRecords = asRecords(topic, framed.map((r) => r.value as Buffer | string | null))
        const fromJson = decodeCardTransactions(asRecords(topic, input.map((r) => r.value)))
        assert.isAbove(fromJson.valid.length, 150)
        yield* job!.resolveSchemas!(avroRecords)
        const decoded = job!.decode(avroRecords)
        assert.deepStrictEqual(decoded.valid.map((v) => v.value), fromJson.valid.map((v) => v.value))
        assert.deepStrictEqual(
          decoded.malformed.map((m) => m.record.offset),
          fromJson.malformed.map((m) => m.record.offset)
        )
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Layer.mergeAll(localFeatureStoreLayer, PipelineRegistry.layer).pipe(
            Layer.provideMerge(InMemoryBroker.layerWithKafka())
          )
        )
      ),
    30_000
  )
})
