import { NodeHttpClient } from "@effect/platform-node"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import { transactionsSettings } from "../../src/config/PipelineConfig.ts"
import { FeatureStore } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient, type ResolvedFeatureGroup } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { extraBroker } from "../support/ExtraBroker.ts"
import { readTopic } from "../support/FeatureGroupTopic.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { startService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"
import {
  awaitCommitted,
  committedTotal,
  featureRows,
  produceRecords,
  simulateTransactions,
  transactionsServiceEnv,
  validTransactions
} from "../support/TransactionsFixture.ts"

const settings = (topic: string, groupId: string) =>
  settingsFrom(transactionsSettings, { KAFKA_TOPIC: topic, KAFKA_GROUP_ID: groupId })

const hopsworksFeatureStore = (hw: LocalHopsworks) =>
  FeatureStore.layer.pipe(
    Layer.provide(HopsworksClient.layer),
    Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))
  )

const localHopsworks = (bootstrap = kafkaBootstrap()) =>
  makeLocalHopsworks({ kafkaBootstrap: bootstrap, project: uniqueName("proj").replace("-", "_") })

/** A second broker for the test that stops and restarts it, so other tests keep theirs. */
const restartBroker = extraBroker("kafka-restart", 29192)

describe("resilience of the transactions pipeline", () => {
  beforeAll(() => {
    restartBroker.run("reset")
    restartBroker.run("start")
  }, 120_000)
  afterAll(() => restartBroker.run("stop"), 60_000)

  it.live(
    "poison input: every record is written or dead-lettered, and the pipeline keeps running",
    () =>
      Effect.gen(function*() {
        const hw = yield* localHopsworks()
        const topic = uniqueName("poison")
        const good = validTransactions(simulateTransactions(200, 0, 99))
        const base = good[0]!
        const poison: Array<string | Buffer> = [
          ...Array.from({ length: 50 }, () => randomBytes(1 + Math.floor(Math.random() * 300))),
          ...good.slice(0, 40).map((t) => JSON.stringify(t).slice(0, 1 + Math.floor(Math.random() * 60))),
          JSON.stringify({ ...base, amount: "12.5" }),
          JSON.stringify({ ...base, amount: null }),
          JSON.stringify({ ...base, user_id: 42 }),
          JSON.stringify({ ...base, event_time: 1e20 }),
          JSON.stringify({ ...base, event_time: -5 }),
          JSON.stringify({ ...base, event_time: 1.5 }),
          JSON.stringify([base]),
          "null",
          "42",
          "",
          Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc]),
          Buffer.concat([Buffer.from(JSON.stringify(base).slice(0, 20)), Buffer.from([0xff, 0xfe])])
        ]
        // Unknown fields are tolerated: these stay valid. A 300 kB category does not fit its online
        // column (varchar(100)): dead-lettered by the feature store's writer.
        const extra = good.slice(100, 110).map((t) => ({
          ...t,
          transaction_id: `${t.transaction_id}-x`,
          note: "unknown"
        }))
        const huge = { ...base, transaction_id: "huge", category: "x".repeat(300_000) }
        const valid = [...good.slice(100), ...extra.map(({ note: _, ...t }) => t)]
        const input = [
          ...poison.map((value) => ({ key: "poison", value })),
          ...good.slice(100).map((t) => ({
            key: t.user_id,
            value: JSON.stringify({ ...t, currency: t.currency.toLowerCase() })
          })),
          ...extra.map((t) => ({ key: t.user_id, value: JSON.stringify(t) })),
          { key: huge.user_id, value: JSON.stringify(huge) }
        ].sort(() => Math.random() - 0.5)
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
        const sink = yield* KafkaSink
        yield* sink.send(input.map((r) => ({ topic, key: r.key, value: r.value })))

        const fiber = yield* runTransactionsPipeline(settings(topic, uniqueName("poison-group"))).pipe(
          Effect.scoped,
          Effect.provide(Layer.mergeAll(hopsworksFeatureStore(hw), PipelineRegistry.layer)),
          Effect.forkChild
        )
        const rows = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= valid.length)
        const dlq = yield* readTopic(`${topic}.dlq`, (rs) => rs.length >= poison.length + 1)
        yield* Effect.sleep("1 second")
        assert.isUndefined(fiber.pollUnsafe(), "the pipeline is still running")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(rows.length + dlq.length, input.length, "records in = written + dead-lettered")
        assert.strictEqual(rows.length, valid.length)
        assert.strictEqual(dlq.length, poison.length + 1, "the poison and the huge row")
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )

  it.live(
    "a record the feature store cannot encode (a lone surrogate) is dead-lettered by the running service: no crash, nothing after it lost",
    () =>
      Effect.gen(function*() {
        const hw = yield* localHopsworks()
        const topic = uniqueName("unencodable")
        const groupId = uniqueName("unencodable-group")
        const good = simulateTransactions(400, 0, 31)
        const base = validTransactions(good)[0]!
        // Valid JSON and valid for the schema, but a string with no UTF-8 form: Avro cannot encode it.
        const bad = { key: "bad", value: JSON.stringify({ ...base, transaction_id: "bad", user_id: "\ud800" }) }
        const input = [...good.slice(0, 200), bad, ...good.slice(200)]
        // One partition: the bad record sits between the good ones in a single ordered log.
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
        yield* produceRecords(topic, input)
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId)

        const service = startService(["run", "transactions"], env)
        yield* awaitCommitted(groupId, topic, input.length)
        const dlq = yield* readTopic(`${topic}.dlq`, (rs) => rs.length >= 1)
        assert.isNull(service.child.exitCode, "the service is still running")
        assert.deepStrictEqual(dlq.map((r) => r.value!.toString()), [bad.value])
        assert.include(dlq[0]!.headers["tributary.error.reason"]?.toString(), "rejected by the sink")
        const rows = yield* featureRows(hw)
        assert.sameMembers(
          rows.map((r) => String(r["transaction_id"])),
          good.map((r) => JSON.parse(r.value).transaction_id)
        )

        // Restarted, it starts after the commit: no replay of the bad record, no crash loop.
        service.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => service.exited), 0)
        const again = startService(["run", "transactions"], env)
        yield* Effect.sleep("5 seconds")
        assert.isNull(again.child.exitCode, "the restarted service is still running")
        again.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => again.exited), 0)
        assert.strictEqual((yield* readTopic(`${topic}.dlq`, (rs) => rs.length >= 1)).length, 1, "dead-lettered once")
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )

  it.live(
    "a stalled sink pauses the source with bounded memory, and everything is written once it resumes",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("stall")
        const bound = 2_000
        const input = simulateTransactions(30_000, 0, 5)
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
        yield* produceRecords(topic, input)
        const release = yield* Deferred.make<void>()
        const written = yield* Ref.make(0)
        const stalledSink = Layer.succeed(
          FeatureStore,
          FeatureStore.of({
            featureGroup: (spec) =>
              Effect.succeed({
                featureGroup: { name: spec.name, version: spec.version } as ResolvedFeatureGroup,
                write: (rows) => Effect.andThen(Deferred.await(release), Ref.update(written, (n) => n + rows.length))
              }),
            materialize: () => Effect.die("not used")
          })
        )
        const registry = yield* PipelineRegistry
        const fiber = yield* runTransactionsPipeline(settings(topic, uniqueName("stall-group"))).pipe(
          Effect.scoped,
          Effect.provide(stalledSink),
          Effect.forkChild
        )
        // While the sink is stalled, consumption stops: at most `bound` records wait in the buffer, plus the
        // groups already handed to the (stalled) writes — at most `maxInFlight` (2) groups of at most `bound`.
        const consumed = Effect.map(registry.all, (all) => all.find((s) => s.name === "transactions")?.recordsIn ?? 0)
        yield* Effect.sleep("3 seconds")
        const afterStall = yield* consumed
        yield* Effect.sleep("1 second")
        assert.strictEqual(yield* consumed, afterStall, "the source paused")
        assert.isAbove(afterStall, 0)
        assert.isAtMost(afterStall, bound * 3, "records taken in while stalled stay bounded")
        assert.isBelow(afterStall, input.length)
        assert.strictEqual(yield* Ref.get(written), 0)
        yield* Deferred.succeed(release, undefined)
        yield* Ref.get(written).pipe(
          Effect.repeat({ until: (n) => n >= input.length, schedule: Schedule.spaced("100 millis") }),
          Effect.timeout("90 seconds")
        )
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(yield* Ref.get(written), input.length)
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(realKafkaLayer({ maxBufferedRecords: 2_000 }), PipelineRegistry.layer))
      ),
    180_000
  )

  it.live(
    "SIGTERM under load exits 0 within the grace period with offsets committed only for written records",
    () =>
      Effect.gen(function*() {
        const hw = yield* localHopsworks()
        const topic = uniqueName("sigterm")
        const groupId = uniqueName("sigterm-group")
        // Enough that the first commits (one a second) cannot cover it all at the default client's rate.
        const input = simulateTransactions(200_000, 0, 77)
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
        yield* produceRecords(topic, input)
        const service = startService(
          ["run", "transactions"],
          transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId, { SHUTDOWN_GRACE_MS: "15000" })
        )
        yield* committedTotal(groupId, topic).pipe(
          Effect.repeat({ until: (n) => n > 3_000, schedule: Schedule.spaced("100 millis") }),
          Effect.timeout("90 seconds")
        )
        const stoppedAt = Date.now()
        service.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => service.exited), 0)
        assert.isBelow(Date.now() - stoppedAt, 15_000)

        // Everything before each committed offset reached the feature group.
        const admin = yield* KafkaAdmin
        const committed = yield* admin.committedOffsets(groupId, topic)
        const inputRecords = yield* readTopic(topic, (rs) => rs.length >= input.length)
        const written = new Set((yield* featureRows(hw)).map((r) => String(r["transaction_id"])))
        let checked = 0
        for (const r of inputRecords) {
          const c = committed.find((x) => x.partition === r.partition)?.offset
          if (c !== undefined && BigInt(r.offset) < BigInt(c)) {
            checked++
            assert.isTrue(written.has(String(JSON.parse(r.value!.toString())["transaction_id"])))
          }
        }
        assert.isAbove(checked, 3_000)
        assert.isBelow(checked, input.length, "stopped under load, before the end")
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    240_000
  )

  // Both producer clients: each must ride out the outage (reconnect, no crash on connection errors).
  for (const producerClient of ["kafkajs", "platformatic"] as const) {
    it.live(
      `the broker stopped and restarted while the service runs (${producerClient} producer): it reconnects and loses nothing`,
      () =>
        Effect.gen(function*() {
          const hw = yield* localHopsworks(restartBroker.address)
          const topic = uniqueName("restart")
          const groupId = uniqueName("restart-group")
          const first = simulateTransactions(5_000, 0, 11)
          const second = simulateTransactions(5_000, 0, 12)
          yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
          yield* produceRecords(topic, first)
          const service = startService(
            ["run", "transactions"],
            transactionsServiceEnv(restartBroker.address, hw, topic, groupId, { KAFKA_PRODUCER_CLIENT: producerClient })
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => service.child.kill("SIGKILL")))
          yield* awaitCommitted(groupId, topic, first.length)

          restartBroker.run("stop")
          yield* Effect.sleep("5 seconds")
          assert.strictEqual(service.child.exitCode, null, "the service survives the broker outage")
          restartBroker.run("start")
          yield* produceRecords(topic, second).pipe(Effect.retry({ schedule: Schedule.spaced("1 second"), times: 30 }))
          yield* awaitCommitted(groupId, topic, first.length + second.length, "180 seconds")

          const ids = new Set((yield* featureRows(hw)).map((r) => String(r["transaction_id"])))
          for (const t of validTransactions([...first, ...second])) assert.isTrue(ids.has(t.transaction_id))
          service.child.kill("SIGTERM")
          assert.strictEqual(yield* Effect.promise(() => service.exited), 0)
        }).pipe(
          Effect.scoped,
          Effect.provide(realKafkaLayer({ brokers: [restartBroker.address] }))
        ),
      360_000
    )
  }
})
