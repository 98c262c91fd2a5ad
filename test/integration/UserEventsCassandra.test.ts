import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import type { UserEventsSettings } from "../../src/config/UserEventsConfig.ts"
import { toUserEventRow, type UserEventRow } from "../../src/domain/UserEvent.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { decodeUserEvents, runUserEventsPipeline } from "../../src/pipelines/user-events/UserEventsPipeline.ts"
import { UserEventsSimulator } from "../../src/simulator/UserEventsSimulator.ts"
import { configuredTable, UserEventsSink } from "../../src/sinks/cassandra/UserEventsSink.ts"
import { readAllUserEvents, readUserDay } from "../../src/sinks/cassandra/UserEventsTable.ts"
import { readTopic } from "../support/FeatureGroupTopic.ts"
import { ensureCassandra, testUserEventsSettings, userEventsTestLayer } from "../support/LocalCassandra.ts"

beforeAll(async () => {
  await ensureCassandra()
})

/** Clustering order of the table: event_time DESC, event_type ASC, event_id ASC. */
const clusteringOrder = (a: UserEventRow, b: UserEventRow) =>
  b.event_time - a.event_time || (a.event_type < b.event_type ? -1 : a.event_type > b.event_type ? 1 : 0) ||
  (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0)

/** Polls Cassandra until the table holds `n` rows. */
const awaitRows = (settings: UserEventsSettings, n: number, timeout = "120 seconds" as const) =>
  Effect.gen(function*() {
    const table = configuredTable(settings)
    for (;;) {
      const rows = yield* readAllUserEvents(table).pipe(Effect.orElseSucceed(() => []))
      if (rows.length >= n) return rows
      yield* Effect.sleep("300 millis")
    }
  }).pipe(Effect.timeout(timeout))

const USER = "6f1c2a44-3b7e-4c1d-9a55-0c2f4e8b9d11"
const T = Date.UTC(2024, 4, 1, 23, 59, 59, 999)
const sameMillisecond = [1, 2, 3].map((n) => ({
  event_id: `00000000-0000-4000-8000-00000000000${n}`,
  user_id: USER,
  event_type: n === 3 ? "page_view" : "click",
  event_time: n === 2 ? new Date(T).toISOString() : T,
  metadata: { n: String(n) }
}))

describe("user-events into real Cassandra from real Kafka", () => {
  it.live(
    "an event Cassandra refuses (a clustering key over 64 KiB) is dead-lettered; every other event is stored",
    () =>
      Effect.gen(function*() {
        const settings = testUserEventsSettings()
        yield* (yield* KafkaAdmin).createTopics([{ topic: settings.topic, partitions: 1 }])
        const good = new UserEventsSimulator(9, 0, 5).batch(200, Date.UTC(2024, 4, 1, 12))
        const huge = {
          ...JSON.parse(good[0]!.value),
          event_id: "00000000-0000-4000-8000-0000000000ff",
          event_type: "x".repeat(70_000)
        }
        const input = [...good.slice(0, 100), { key: USER, value: JSON.stringify(huge) }, ...good.slice(100)]
        yield* (yield* KafkaSink).send(input.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
        const fiber = yield* runUserEventsPipeline(settings).pipe(
          Effect.provide(UserEventsSink.layer(settings)),
          Effect.forkChild
        )
        const dead = yield* readTopic(`${settings.topic}.dlq`, (rs) => rs.length >= 1)
        const rows = yield* awaitRows(settings, good.length)
        yield* Effect.sleep("1 second")
        assert.isUndefined(fiber.pollUnsafe(), "the pipeline is still running")
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(dead.map((r) => JSON.parse(r.value!.toString()).event_id), [huge.event_id])
        assert.include(dead[0]!.headers["tributary.error.reason"]?.toString(), "rejected by the sink")
        assert.strictEqual(rows.length, good.length)
      }).pipe(Effect.provide(userEventsTestLayer())),
    180_000
  )

  it.live(
    "every event is readable by (user_id, bucket_date) newest first; none lost; the seed key and hour buckets too",
    () =>
      Effect.gen(function*() {
        const base = testUserEventsSettings()
        const variants = {
          day: base,
          seed: { ...base, groupId: `${base.groupId}-seed`, table: "user_events_seed", seedKey: true },
          hour: { ...base, groupId: `${base.groupId}-hour`, table: "user_events_hourly", bucket: "hour" as const }
        }
        yield* (yield* KafkaAdmin).createTopics([{ topic: base.topic, partitions: 3 }])
        const simulator = new UserEventsSimulator(4, 0.02, 30)
        const records = [
          ...simulator.batch(3_000, Date.UTC(2024, 4, 1, 23, 59, 59, 980)),
          ...simulator.batch(2_000, Date.UTC(2024, 4, 2, 0, 0, 0, 20)),
          ...sameMillisecond.map((e) => ({ key: USER, value: JSON.stringify(e), malformed: false }))
        ]
        yield* (yield* KafkaSink).send(records.map((r) => ({ topic: base.topic, key: r.key, value: r.value })))

        // What the table must hold: the pipeline's own decoder and mapping applied to what was produced.
        const decoded = decodeUserEvents(records.map((r, i) => ({
          topic: base.topic,
          partition: 0,
          offset: String(i),
          timestamp: 0,
          key: null,
          value: Buffer.from(r.value),
          headers: {}
        })))
        assert.strictEqual(decoded.malformed.length, records.filter((r) => r.malformed).length)
        const expected = decoded.valid.map((v) => toUserEventRow(v.value, "day"))
        const seedKeys = new Set(expected.map((r) => `${r.user_id}|${r.event_time}|${r.event_type}`))
        assert.isBelow(seedKeys.size, expected.length, "the data has same-millisecond events of one type")

        const fibers = yield* Effect.forEach(Object.values(variants), (settings) =>
          runUserEventsPipeline(settings).pipe(Effect.provide(UserEventsSink.layer(settings)), Effect.forkChild))

        const rows = yield* awaitRows(variants.day, expected.length)
        const seedRows = yield* awaitRows(variants.seed, seedKeys.size)
        const hourRows = yield* awaitRows(variants.hour, expected.length)
        // Let any straggler write land before counting exactly.
        yield* Effect.sleep("1 second")
        yield* Effect.forEach(fibers, Fiber.interrupt)

        assert.strictEqual((yield* readAllUserEvents(configuredTable(variants.day))).length, expected.length)
        assert.strictEqual(rows.length, expected.length)
        assert.deepStrictEqual(
          new Set(rows.map((r) =>
            r.event_id
          )),
          new Set(expected.map((r) => r.event_id))
        )
        assert.strictEqual(
          seedRows.length,
          seedKeys.size,
          "the seed's key keeps one event per user, millisecond and type"
        )
        assert.strictEqual(hourRows.length, expected.length)

        // Partition by partition, in the seed's order, with every column as sent.
        const byPartition = new Map<string, Array<UserEventRow>>()
        for (const r of expected) {
          byPartition.set(`${r.user_id}|${r.bucket_date}`, [
            ...(byPartition.get(`${r.user_id}|${r.bucket_date}`) ?? []),
            r
          ])
        }
        assert.isAtLeast(byPartition.size, 60)
        for (const [key, want] of byPartition) {
          const [user, day] = key.split("|") as [string, string]
          want.sort(clusteringOrder)
          assert.deepStrictEqual(yield* readUserDay(configuredTable(variants.day), user, day), want, key)
          const hourly = yield* readUserDay(configuredTable(variants.hour), user, day)
          assert.deepStrictEqual(hourly.map((r) => r.event_id), want.map((r) => r.event_id), `${key} (hour buckets)`)
        }
        const pair = yield* readUserDay(configuredTable(variants.day), USER, "2024-05-01")
        assert.deepStrictEqual(pair.slice(0, 3).map((r) => r.metadata["n"]), ["1", "2", "3"])
        const seedPair = yield* readUserDay(configuredTable(variants.seed), USER, "2024-05-01")
        assert.deepStrictEqual(seedPair.slice(0, 2).map((r) => r.metadata["n"]), ["2", "3"], "the later click wins")
      }).pipe(Effect.provide(userEventsTestLayer())),
    240_000
  )

  it.live(
    "`setup` is idempotent and a table with another key is refused with a clear error",
    () =>
      Effect.gen(function*() {
        const settings = testUserEventsSettings()
        const first = yield* Effect.exit(Effect.scoped(Layer.build(UserEventsSink.layer(settings))))
        assert.strictEqual(first._tag, "Success")
        const again = yield* Effect.exit(Effect.scoped(Layer.build(UserEventsSink.layer(settings))))
        assert.strictEqual(again._tag, "Success")
        const mismatch = yield* Effect.flip(
          Effect.scoped(Layer.build(UserEventsSink.layer({ ...settings, seedKey: true })))
        )
        assert.strictEqual(mismatch._tag, "CassandraError")
        assert.include(mismatch.message, "USER_EVENTS_SEED_KEY")
        assert.isFalse(mismatch.transient)
      }),
    60_000
  )
})
