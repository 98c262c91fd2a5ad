import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { configuredTable } from "../../src/sinks/cassandra/UserEventsSink.ts"
import { readAllUserEvents } from "../../src/sinks/cassandra/UserEventsTable.ts"
import {
  buildCorpus,
  checkDeadLetters,
  committedOn,
  type CorpusEntry,
  type CorpusSpec,
  parsed,
  produceCorpus,
  raw,
  serviceProcess,
  stopService,
  until,
  wholeTopic,
  withOutcome
} from "../support/HostileRecords.ts"
import { ensureCassandra, testUserEventsSettings, userEventsTestLayer } from "../support/LocalCassandra.ts"
import { kafkaBootstrap } from "../support/TestKafka.ts"

beforeAll(async () => {
  await ensureCassandra()
})

type Outcome = "written" | "dead-lettered"
const W: Outcome = "written"
const D: Outcome = "dead-lettered"
const DAY = 86_400_000

const uuid = (n: number) => `6f1c2a44-3b7e-4c1d-9a55-${n.toString(16).padStart(12, "0")}`
const users = [1, 2, 3, 4, 5].map((u) => `0e4f${u}b2c-7d1a-4e5f-8a9b-1c2d3e4f5a6b`)

/**
 * What the user-events pipeline does with each hostile value. Any event time from 1970 to 9999 is a
 * row (no watermark); ids are UUIDs; text that has no UTF-8 form is refused, never stored with
 * replacement characters; an event_type over Cassandra's 64 KiB clustering-key limit is refused by the
 * sink and dead-lettered; NUL and long metadata are ordinary text.
 */
const spec = (now: number): CorpusSpec<Outcome> => ({
  good: (n, eventTime) => ({
    event_id: uuid(n),
    user_id: users[n % users.length],
    event_type: ["click", "page_view", "purchase"][n % 3],
    // Both forms the schema takes.
    event_time: n % 2 === 0 ? eventTime : new Date(eventTime).toISOString(),
    metadata: { page: `/p/${n}` }
  }),
  key: (v) => String(v["user_id"]),
  idField: "event_id",
  written: W,
  deadLettered: D,
  fields: [
    {
      name: "event_id",
      types: ["string"],
      outcomes: { empty: D, nul: D, loneSurrogate: D, oversized: D },
      edges: [{ label: "upper-case UUID", value: uuid(900_001).toUpperCase(), outcome: W }]
    },
    {
      name: "user_id",
      types: ["string"],
      outcomes: { empty: D, nul: D, loneSurrogate: D, oversized: D },
      edges: [{ label: "upper-case UUID", value: users[0]!.toUpperCase(), outcome: W }]
    },
    { name: "event_type", types: ["string"], outcomes: { empty: D, nul: W, loneSurrogate: D, oversized: D } },
    {
      name: "event_time",
      types: ["number", "string"],
      outcomes: { negativeZero: W, empty: D, nul: D, loneSurrogate: D, oversized: D },
      edges: [
        { label: "far past (1970-01-01)", value: 0, outcome: W },
        { label: "far future (now + 30 days)", value: now + 30 * DAY, outcome: W },
        { label: "last millisecond of 9999, ISO", value: "9999-12-31T23:59:59.999Z", outcome: W },
        { label: "year 10000", value: 253_402_300_800_000, outcome: D },
        { label: "before 1970", value: -1, outcome: D },
        { label: "1.5", value: 1.5, outcome: D },
        { label: "2^53 + 1", value: raw("9007199254740993"), outcome: D },
        { label: "ISO with microseconds and an offset", value: "2024-05-01T12:00:00.123456+02:00", outcome: W },
        { label: "ISO without a zone", value: "2024-05-01T12:00:00", outcome: D },
        { label: "ISO month 13", value: "2024-13-01T12:00:00Z", outcome: D }
      ]
    },
    {
      name: "metadata",
      types: ["object"],
      outcomes: { missing: W },
      edges: [
        { label: "{}", value: {}, outcome: W },
        { label: "a number value", value: { page: 1 }, outcome: D },
        { label: "a nested object", value: { page: { path: "/" } }, outcome: D },
        { label: "a null value", value: { page: null }, outcome: D },
        { label: "NUL in a key and a value", value: { "pa\u0000ge": "/\u0000" }, outcome: W },
        { label: "a lone surrogate in a value", value: { page: "/\udc00" }, outcome: D },
        { label: "a lone surrogate in a key", value: { "\ud800": "/" }, outcome: D },
        { label: "a 70 KiB value", value: { page: "x".repeat(70 * 1_024) }, outcome: W },
        { label: "an empty key and value", value: { "": "" }, outcome: W },
        { label: "an array", value: ["/"], outcome: D }
      ]
    }
  ]
})

/** The row a written event must become, computed from what was sent. */
const expectedRow = (entry: CorpusEntry<Outcome>) => {
  const v = parsed(entry)
  const time = v["event_time"]
  const eventTime = typeof time === "number" ? time : Date.parse(String(time).replace(/(\.\d{3})\d+/, "$1"))
  return {
    event_id: String(v["event_id"]).toLowerCase(),
    user_id: String(v["user_id"]).toLowerCase(),
    bucket_date: new Date(eventTime).toISOString().slice(0, 10),
    event_time: eventTime + 0, // -0 is stored as 0
    event_type: v["event_type"],
    metadata: v["metadata"] ?? {}
  }
}

describe("fuzz: user-events service process", () => {
  it.live(
    "every hostile event stored or dead-lettered with a reason, every good one stored as sent, commits at the end",
    () =>
      Effect.gen(function*() {
        const now = Date.now()
        const settings = testUserEventsSettings()
        const topic = settings.topic
        const userEvents = spec(now)
        const corpus = buildCorpus(userEvents, { baseTime: now - 3_600_000, stepMs: 10 })
        const { end } = yield* produceCorpus(topic, corpus)

        const service = yield* serviceProcess("user-events", "user-events", {
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          USER_EVENTS_TOPIC: topic,
          USER_EVENTS_GROUP_ID: settings.groupId,
          CASSANDRA_CONTACT_POINTS: settings.cassandra.contactPoints.join(","),
          CASSANDRA_KEYSPACE: settings.cassandra.keyspace,
          LOG_LEVEL: "Warn"
        })
        yield* until(
          service,
          `commits at ${end}`,
          Effect.map(committedOn(settings.groupId, topic), (c) => c.offset === end)
        )

        checkDeadLetters(yield* wholeTopic(`${topic}.dlq`), topic, {
          expected: withOutcome(userEvents, corpus, D),
          corpus
        })
        const written = withOutcome(userEvents, corpus, W)
        const rows = yield* readAllUserEvents(configuredTable(settings))
        const byId = new Map(rows.map((r) => [r.event_id, r]))
        const missing = written.filter((e) => !byId.has(expectedRow(e).event_id))
        assert.deepStrictEqual(missing.map((e) => e.hostile?.label ?? `good ${e.offset}`), [], "rows missing")
        assert.strictEqual(rows.length, written.length, "one row per written event")
        for (const e of written) {
          const want = expectedRow(e)
          const { bucket_hour: _, ...got } = byId.get(want.event_id)!
          assert.deepStrictEqual(got, want, e.hostile?.label ?? "good event")
        }
        for (const e of corpus) {
          if (e.hostile?.shadowed !== undefined) assert.isFalse(byId.has(String(e.hostile.shadowed)), "shadowed id")
        }
        assert.isTrue(service.alive(), "the service never exited")
        assert.strictEqual(yield* stopService(service), 0)
        console.log(
          `[fuzz user-events] ${corpus.length} records: ${written.length} stored, ` +
            `${withOutcome(userEvents, corpus, D).length} dead-lettered`
        )
      }).pipe(Effect.scoped, Effect.provide(userEventsTestLayer())),
    60_000
  )
})
