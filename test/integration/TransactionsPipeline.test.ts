import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { producerSendsChannel } from "@platformatic/kafka"
import { ConfigProvider, Effect, Fiber, Layer, Schedule } from "effect"
import { transactionsSettings } from "../../src/config/PipelineConfig.ts"
import { FeatureStore } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { headerString } from "../../src/kafka/KafkaRecord.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { readTopic, subjectDecoder } from "../support/FeatureGroupTopic.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { startService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"
import {
  produceRecords,
  simulateTransactions,
  transactionsServiceEnv,
  validTransactions
} from "../support/TransactionsFixture.ts"

const localHopsworks = () =>
  makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: uniqueName("proj").replace("-", "_") })

const pipelineLayer = (hw: LocalHopsworks, producerClient: ProducerClient) =>
  Layer.mergeAll(FeatureStore.layer, PipelineRegistry.layer).pipe(
    Layer.provide(HopsworksClient.layer),
    Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici)),
    Layer.provideMerge(realKafkaLayer({ producerClient })),
    // The feature store reads KAFKA_PRODUCER_CLIENT itself (its sink is on the cluster Hopsworks names).
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { KAFKA_PRODUCER_CLIENT: producerClient } })))
  )

type ProducerClient = "kafkajs" | "platformatic"

/** Counts records produced through @platformatic/kafka while `effect` runs (its diagnostics channel). */
const countPlatformaticSends = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    let records = 0
    const handlers = {
      start: (event: { readonly options?: { readonly messages?: ReadonlyArray<unknown> } }) => {
        records += event.options?.messages?.length ?? 0
      }
    }
    producerSendsChannel.subscribe(handlers as never)
    const result = yield* Effect.ensuring(
      effect,
      Effect.sync(() => producerSendsChannel.unsubscribe(handlers as never))
    )
    return { result, records }
  })

// Every feature-group row goes through the configured producer client: both are held to the same tests.
for (const producerClient of ["kafkajs", "platformatic"] as const) {
  describe(`transactions pipeline: real Kafka + local Hopsworks (${producerClient} producer)`, () => {
    it.live(
      "writes exactly the valid records to the feature group and exactly the malformed ones to the DLQ",
      () =>
        Effect.gen(function*() {
          const hw = yield* localHopsworks()
          const topic = uniqueName("transactions")
          const input = simulateTransactions(3_000, 0.1)
          const valid = validTransactions(input)
          const malformed = input.filter((r) => r.malformed)
          assert.isAbove(malformed.length, 100)
          yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
          yield* produceRecords(topic, input)

          const { records: viaPlatformatic, result: [fgRecords, dlq] } = yield* countPlatformaticSends(
            Effect.gen(function*() {
              const pipeline = yield* runTransactionsPipeline(
                settingsFrom(transactionsSettings, { KAFKA_TOPIC: topic, KAFKA_GROUP_ID: uniqueName("tx-group") })
              ).pipe(Effect.scoped, Effect.provide(pipelineLayer(hw, producerClient)), Effect.forkChild)
              const rows = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= valid.length)
              const deadLetters = yield* readTopic(`${topic}.dlq`, (rs) => rs.length >= malformed.length)
              yield* Effect.sleep("1 second")
              yield* Fiber.interrupt(pipeline)
              return [rows, deadLetters] as const
            })
          )
          // Rows and dead letters really went through the configured client.
          assert.strictEqual(viaPlatformatic, producerClient === "platformatic" ? input.length : 0)

          const [fg] = hw.featureGroups()
          assert.isDefined(fg)
          const decode = subjectDecoder(fg!.subject.schema)
          assert.strictEqual(fgRecords.length, valid.length, "one feature row per valid record")
          const rows = fgRecords.map((r) => decode(r.value!))
          assert.deepStrictEqual(
            rows.toSorted((a, b) => String(a["transaction_id"]).localeCompare(String(b["transaction_id"]))),
            valid.toSorted((a, b) => a.transaction_id.localeCompare(b.transaction_id)).map((t) => ({ ...t }))
          )
          for (const row of rows) assert.match(String(row["currency"]), /^(USD|EUR|GBP)$/)
          for (const r of fgRecords) {
            assert.strictEqual(r.key?.toString(), String(decode(r.value!)["transaction_id"]), "key = primary key")
            assert.strictEqual(headerString(r, "projectId"), String(hw.projectId))
            assert.strictEqual(headerString(r, "featureGroupId"), String(fg!.dto.id))
            assert.strictEqual(headerString(r, "subjectId"), String(fg!.subject.id))
          }

          assert.strictEqual(dlq.length, malformed.length, "every malformed record dead-lettered once")
          assert.sameMembers(dlq.map((r) => r.value!.toString()), malformed.map((r) => r.value))
          for (const r of dlq) {
            assert.isNotEmpty(headerString(r, DeadLetterHeaders.reason))
            assert.strictEqual(headerString(r, DeadLetterHeaders.topic), topic)
          }
        }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
      180_000
    )

    it.live(
      "a service killed with SIGKILL mid-stream and restarted leaves one correct row per transaction",
      () =>
        Effect.gen(function*() {
          const hw = yield* localHopsworks()
          const topic = uniqueName("transactions-crash")
          const groupId = uniqueName("crash-group")
          // Enough input that the default client (200k+ records/s here) is still writing when the kill comes.
          const input = simulateTransactions(120_000, 0.02)
          const valid = validTransactions(input)
          const admin = yield* KafkaAdmin
          yield* admin.createTopics([{ topic, partitions: 3 }])
          yield* produceRecords(topic, input)

          const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId, {
            KAFKA_PRODUCER_CLIENT: producerClient
          })
          const written = Effect.map(
            admin.topicOffsets(hw.onlineTopic),
            (ps) => ps.reduce((n, p) => n + Number(p.high), 0)
          )
          const first = startService(["run", "transactions"], env)
          // Kill it while it is writing: some rows written, not all.
          yield* written.pipe(
            Effect.repeat({ until: (n) => n > 5_000, schedule: Schedule.spaced("10 millis") }),
            Effect.timeout("90 seconds")
          )
          first.child.kill("SIGKILL")
          assert.strictEqual(
            yield* Effect.promise(() => first.exited),
            "SIGKILL"
          )
          const atKill = yield* written
          assert.isBelow(atKill, valid.length, "killed mid-stream")

          const second = startService(["run", "transactions"], env)
          const committed = Effect.map(
            admin.committedOffsets(groupId, topic),
            (cs) => cs.reduce((n, c) => n + Number(c.offset ?? 0), 0)
          )
          yield* committed.pipe(
            Effect.repeat({ until: (n) => n >= input.length, schedule: Schedule.spaced("200 millis") }),
            Effect.timeout("120 seconds")
          )
          second.child.kill("SIGTERM")
          assert.strictEqual(yield* Effect.promise(() => second.exited), 0)

          const fg = hw.featureGroups()[0]!
          const decode = subjectDecoder(fg.subject.schema)
          const total = yield* written
          const fgRecords = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= total)
          assert.isAtLeast(fgRecords.length, valid.length, "at least once")
          // The online store upserts by primary key: one row per transaction_id, the newest write winning.
          const online = new Map<string, Record<string, unknown>>()
          for (const r of fgRecords) {
            const row = decode(r.value!)
            online.set(String(row["transaction_id"]), row)
          }
          assert.strictEqual(online.size, valid.length)
          for (const t of valid) assert.deepStrictEqual(online.get(t.transaction_id), { ...t })
        }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
      300_000
    )
  })
}
