/**
 * The whole pipeline on Tributary's in-memory layers (broker, local feature store) under TestClock:
 * what lands in the feature group's online table is, per user, the newest closed hour computed by hand;
 * malformed input goes to the dead-letter topic; nothing else is written.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import {
  InMemoryBroker,
  inMemoryServices,
  KafkaAdmin,
  KafkaSink,
  type OnlineTable,
  OnlineTables,
  runPipelineWith
} from "tributary"
import sessionFeatures, { sessionSettings } from "../src/SessionFeaturesPipeline.ts"

const HOUR = 3_600_000
const BASE = Date.UTC(2026, 0, 1)
const topic = "page-events-test"

const event = (id: string, user: string, at: number, kind = "view", extra: object = {}) => ({
  topic,
  key: user,
  value: JSON.stringify({ event_id: id, user_id: user, event_time: at, kind, page: `/p${id.at(-1)}`, ...extra })
})

describe("session-features pipeline (in-memory broker, local feature store, TestClock)", () => {
  it.effect("writes each user's closed hours to the feature group and dead-letters malformed events", () =>
    // Event times must not be ahead of the clock (they would be dead-lettered as from the future). The
    // clock is set before the services start: moving it later would first run every tick in between.
    Effect.andThen(
      TestClock.setTime(BASE + 6 * HOUR),
      Effect.gen(function*() {
        const settings = yield* sessionSettings.parse(ConfigProvider.fromEnv({ env: { SESSION_EVENTS_TOPIC: topic } }))
        yield* Effect.flatMap(KafkaAdmin, (admin) => admin.createTopics([{ topic, partitions: 2 }]))
        yield* Effect.flatMap(KafkaSink, (sink) =>
          sink.send([
            event("a1", "alice", BASE + 10 * 60_000),
            event("a2", "alice", BASE + 40 * 60_000, "purchase", { amount: 12.5 }),
            event("a3", "alice", BASE + HOUR + 5 * 60_000, "add_to_cart"),
            event("b1", "bob", BASE + 2 * HOUR + 1_000),
            { topic, key: "bob", value: "{not json" },
            event("b2", "bob", BASE + 2 * HOUR + 30 * 60_000, "purchase", { amount: 3 }),
            // Late enough to close every hour above on both partitions (this hour itself stays open).
            { ...event("f0", "flush", BASE + 5 * HOUR), partition: 0 },
            { ...event("f1", "flush", BASE + 5 * HOUR), partition: 1 }
          ]))
        yield* Effect.forkChild(runPipelineWith(sessionFeatures, settings))

        const online = yield* OnlineTables
        let table: Option.Option<OnlineTable> = Option.none()
        for (let i = 0; i < 30; i++) {
          yield* TestClock.adjust("1 second")
          table = yield* online.table("user_session_1h", 1)
          if (Option.isSome(table) && table.value.applied >= 3) break
        }
        if (Option.isNone(table)) return assert.fail("the feature group's online table was never created")
        const { applied, rows } = table.value
        // alice: hours 0 and 1; bob: hour 2. The online row per user is the newest hour.
        assert.strictEqual(applied, 3)
        assert.deepStrictEqual(rows.get("alice"), {
          user_id: "alice",
          window_start: BASE + HOUR,
          events: 1,
          views: 0,
          carts: 1,
          purchases: 0,
          revenue: 0,
          distinct_pages: 1,
          active_ms: 0,
          conversion: null
        })
        assert.deepStrictEqual(rows.get("bob"), {
          user_id: "bob",
          window_start: BASE + 2 * HOUR,
          events: 2,
          views: 1,
          carts: 0,
          purchases: 1,
          revenue: 3,
          distinct_pages: 2,
          active_ms: 30 * 60_000 - 1_000,
          conversion: 1
        })
        assert.isFalse(rows.has("flush"), "the open hour is not written")
        const dead = (yield* InMemoryBroker).read(`${topic}.dlq`).flat()
        assert.deepStrictEqual(dead.map((r) => r.value?.toString()), ["{not json"])
      }).pipe(Effect.provide(inMemoryServices({ defaultPartitions: 2 })))
    ))
})
