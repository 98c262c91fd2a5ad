import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { deadLetterSettings } from "../../src/config/PipelineConfig.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runUserEventsPipeline } from "../../src/pipelines/user-events/UserEventsPipeline.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { UserEventsSimulator } from "../../src/simulator/UserEventsSimulator.ts"
import { InMemoryUserEvents } from "../../src/sinks/cassandra/InMemoryUserEvents.ts"
import { testUserEventsSettings } from "../support/LocalCassandra.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const layer = (options: { readonly seedKey: boolean; readonly bucket: "day" | "hour" }) =>
  Layer.mergeAll(
    InMemoryBroker.layerWithKafka({ defaultPartitions: 3, maxBatchSize: 200 }),
    PipelineRegistry.layer,
    InMemoryUserEvents.layer(options)
  )

/** Polls until `done` holds (live clock: the in-memory broker delivers on its own fibers). */
const eventually = (done: Effect.Effect<boolean>, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      if (yield* done) return
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

const USER = "6f1c2a44-3b7e-4c1d-9a55-0c2f4e8b9d11"
const T = Date.UTC(2024, 4, 1, 23, 59, 59, 999)
/** Two clicks of one user in one millisecond, plus a page view: the seed's key keeps 2 of the 3. */
const sameMillisecond = [
  { event_id: "00000000-0000-4000-8000-000000000001", event_type: "click", event_time: T },
  { event_id: "00000000-0000-4000-8000-000000000002", event_type: "click", event_time: new Date(T).toISOString() },
  { event_id: "00000000-0000-4000-8000-000000000003", event_type: "page_view", event_time: T }
].map((e) => ({ ...e, user_id: USER, metadata: { n: e.event_id.slice(-1) } }))

describe("user-events pipeline (in-memory broker, in-memory table)", () => {
  it.live("maps and upserts every valid event; malformed ones go to the dead-letter topic, counted", () =>
    Effect.gen(function*() {
      const settings = testUserEventsSettings()
      const broker = yield* InMemoryBroker
      const table = yield* InMemoryUserEvents
      const simulator = new UserEventsSimulator(11, 0.1, 20)
      const records = simulator.batch(2_000, Date.UTC(2024, 4, 1, 23, 59, 59, 900))
        .concat(simulator.batch(1_000, Date.UTC(2024, 4, 2, 0, 0, 0, 30)))
      const malformed = records.filter((r) => r.malformed).length
      yield* (yield* KafkaSink).send(records.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))

      const fiber = yield* Effect.forkChild(runUserEventsPipeline(settings))
      const registry = yield* PipelineRegistry
      const dlq = () => broker.read(`${settings.topic}.dlq`).flat()
      yield* eventually(
        Effect.map(registry.all, (all) => all[0]?.recordsIn === records.length && dlq().length === malformed),
        "all records consumed"
      )
      const stats = yield* registry.all
      // Everything was committed, so a restart would not replay anything.
      yield* eventually(
        Effect.sync(() =>
          broker.read(settings.topic).every((log, partition) =>
            log.length === 0 ||
            broker.committed(settings.groupId, { topic: settings.topic, partition })?.offset === String(log.length)
          )
        ),
        "offsets committed"
      )
      yield* Fiber.interrupt(fiber)

      const valid = records.filter((r) => !r.malformed).map((r) =>
        JSON.parse(r.value) as { event_id: string; user_id: string; event_time: string | number }
      )
      assert.isAbove(malformed, 200)
      assert.strictEqual(table.size(), valid.length, "no valid event lost (default key has event_id)")
      assert.strictEqual(stats[0]!.deadLettered, malformed)
      assert.strictEqual(stats[0]!.recordsOut, valid.length)
      assert.isTrue(dlq().every((r) => r.headers[DeadLetterHeaders.reason] !== undefined))

      // Both UTC days got their own partition per user, each newest first.
      for (const user of simulator.users) {
        for (const day of ["2024-05-01", "2024-05-02"]) {
          const rows = table.partition(user, day)
          const expected = valid.filter((v) =>
            v.user_id === user && new Date(v.event_time).toISOString().slice(0, 10) === day
          ).length
          assert.strictEqual(rows.length, expected, `${user} ${day}`)
          assert.isTrue(rows.every((r, i) => i === 0 || rows[i - 1]!.event_time >= r.event_time))
          assert.isTrue(rows.every((r) => r.bucket_date === day))
        }
      }
    }).pipe(Effect.provide(layer({ seedKey: false, bucket: "day" }))))

  for (const seedKey of [false, true]) {
    it.live(`same-millisecond events of one type: ${seedKey ? "the seed's key keeps one" : "event_id in the key keeps both"}`, () =>
      Effect.gen(function*() {
        const settings = testUserEventsSettings({ seedKey })
        const table = yield* InMemoryUserEvents
        yield* (yield* KafkaSink).send(
          sameMillisecond.map((e) => ({ topic: settings.topic, key: USER, value: JSON.stringify(e) }))
        )
        const fiber = yield* Effect.forkChild(runUserEventsPipeline(settings))
        yield* eventually(Effect.sync(() => table.writes() > 0), "a write")
        yield* Fiber.interrupt(fiber)
        const ids = table.partition(USER, "2024-05-01").map((r) => r.event_id.slice(-1))
        // Clustering order: event_time DESC, event_type ASC, event_id ASC.
        assert.deepStrictEqual(ids, seedKey ? ["2", "3"] : ["1", "2", "3"])
      }).pipe(Effect.provide(layer({ seedKey, bucket: "day" }))))
  }

  it.live("hour buckets: one partition per user, UTC date and hour", () =>
    Effect.gen(function*() {
      const settings = testUserEventsSettings({ bucket: "hour" })
      const table = yield* InMemoryUserEvents
      const late = {
        ...sameMillisecond[2]!,
        event_id: "00000000-0000-4000-8000-000000000004",
        event_time: "2024-05-02T00:00:00.000Z"
      }
      const events = [...sameMillisecond, late]
      yield* (yield* KafkaSink).send(
        events.map((e) => ({ topic: settings.topic, key: USER, value: JSON.stringify(e) }))
      )
      const fiber = yield* Effect.forkChild(runUserEventsPipeline(settings))
      yield* eventually(Effect.sync(() => table.size() === 4), "4 rows")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(table.partition(USER, "2024-05-01", 23).map((r) => r.event_id.slice(-1)), ["1", "2", "3"])
      assert.deepStrictEqual(table.partition(USER, "2024-05-02", 0).map((r) => r.bucket_hour), [0])
      assert.deepStrictEqual(table.partition(USER, "2024-05-01"), [])
    }).pipe(Effect.provide(layer({ seedKey: false, bucket: "hour" }))))

  it.live("with the `drop` policy malformed records are counted and nothing is dead-lettered", () =>
    Effect.gen(function*() {
      const settings = testUserEventsSettings({
        deadLetters: settingsFrom(deadLetterSettings, { DEAD_LETTER_POLICY: "drop" })
      })
      const broker = yield* InMemoryBroker
      yield* (yield* KafkaSink).send([
        { topic: settings.topic, key: USER, value: "{not json" },
        { topic: settings.topic, key: USER, value: JSON.stringify(sameMillisecond[0]) }
      ])
      const fiber = yield* Effect.forkChild(runUserEventsPipeline(settings))
      const registry = yield* PipelineRegistry
      yield* eventually(
        Effect.map(registry.all, (all) => all[0]?.recordsOut === 1 && all[0].dropped === 1),
        "1 written, 1 dropped"
      )
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(broker.read(`${settings.topic}.dlq`).flat().length, 0)
    }).pipe(Effect.provide(layer({ seedKey: false, bucket: "day" }))))
})
