import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { toUserEventRow, type UserEvent, type UserEventRow, utcDate, utcHour } from "../../src/domain/UserEvent.ts"
import { decodeUserEvents } from "../../src/pipelines/user-events/UserEventsPipeline.ts"
import { partitionBatches } from "../../src/sinks/cassandra/UserEventsSink.ts"
import { userEventsTable } from "../../src/sinks/cassandra/UserEventsTable.ts"
import { recordsOn } from "../support/KafkaRecords.ts"

const USER = "6f1c2a44-3b7e-4c1d-9a55-0c2f4e8b9d11"
const EVENT = "0b9d7c3e-1f2a-4e5b-8c6d-7e8f9a0b1c2d"

const record = recordsOn("user-events")

const event = (overrides: Record<string, unknown> = {}) => ({
  event_id: EVENT,
  user_id: USER,
  event_type: "page_view",
  event_time: "2024-05-01T12:34:56.789Z",
  metadata: { page: "/home" },
  ...overrides
})

const decodeOne = (value: unknown) => {
  const { malformed, valid } = decodeUserEvents([record(value)])
  return { value: valid[0]?.value, reason: malformed[0]?.error.reason }
}

const tableOptions = {
  keyspace: "event_streaming",
  table: "user_events",
  replicationFactor: 1,
  localDataCenter: "datacenter1"
}

describe("UserEvent decoding", () => {
  it("accepts event_time as ISO 8601 with a zone or as epoch milliseconds, both decoded to epoch ms", () => {
    const ms = Date.UTC(2024, 4, 1, 12, 34, 56, 789)
    assert.strictEqual(decodeOne(event()).value?.event_time, ms)
    assert.strictEqual(decodeOne(event({ event_time: ms })).value?.event_time, ms)
    assert.strictEqual(decodeOne(event({ event_time: "2024-05-01T14:34:56.789+02:00" })).value?.event_time, ms)
    // Microseconds are cut to Cassandra's millisecond precision.
    assert.strictEqual(decodeOne(event({ event_time: "2024-05-01T12:34:56.789999Z" })).value?.event_time, ms)
  })

  it("rejects ambiguous or impossible times, bad UUIDs, empty types and non-string metadata, naming the field", () => {
    const cases: ReadonlyArray<[Record<string, unknown>, string]> = [
      [{ event_time: "2024-05-01T12:34:56" }, "event_time"], // no zone: would depend on the host's time zone
      [{ event_time: "2024-13-01T00:00:00Z" }, "event_time"],
      [{ event_time: 1.5 }, "event_time"],
      [{ event_time: -1 }, "event_time"],
      [{ event_time: "yesterday" }, "event_time"],
      [{ user_id: "user-1" }, "user_id"],
      [{ event_id: undefined }, "event_id"],
      [{ event_type: "" }, "event_type"],
      [{ metadata: { clicks: 3 } }, "metadata"]
    ]
    for (const [overrides, field] of cases) {
      const { reason, value } = decodeOne(event(overrides))
      assert.isUndefined(value, JSON.stringify(overrides))
      assert.include(reason ?? "", field, JSON.stringify(overrides))
    }
    assert.include(decodeOne("{not json").reason ?? "", "not JSON")
  })

  it("treats missing metadata as an empty map", () => {
    const { metadata: _, ...withoutMetadata } = event()
    const decoded = decodeOne(withoutMetadata).value!
    assert.deepStrictEqual(toUserEventRow(decoded, "day").metadata, {})
  })
})

describe("mapping to the Cassandra model", () => {
  const at = (iso: string): UserEvent => ({ ...decodeOne(event({ event_time: iso })).value! })

  it("bucket_date is the UTC date of event_time, whatever zone the producer wrote", () => {
    assert.strictEqual(toUserEventRow(at("2024-05-01T23:59:59.999Z"), "day").bucket_date, "2024-05-01")
    assert.strictEqual(toUserEventRow(at("2024-05-02T00:00:00.000Z"), "day").bucket_date, "2024-05-02")
    assert.strictEqual(toUserEventRow(at("2024-05-02T01:30:00+02:00"), "day").bucket_date, "2024-05-01")
    assert.strictEqual(toUserEventRow(at("2024-02-29T10:00:00Z"), "day").bucket_date, "2024-02-29")
    assert.strictEqual(utcDate(0), "1970-01-01")
  })

  it("hour buckets add the UTC hour; day buckets leave it out", () => {
    const row = toUserEventRow(at("2024-05-01T23:15:00+02:00"), "hour")
    assert.strictEqual(row.bucket_date, "2024-05-01")
    assert.strictEqual(row.bucket_hour, 21)
    assert.isUndefined(toUserEventRow(at("2024-05-01T23:15:00Z"), "day").bucket_hour)
    assert.strictEqual(utcHour(Date.UTC(2024, 0, 1, 0, 0, 0)), 0)
    assert.strictEqual(utcHour(Date.UTC(2024, 0, 1, 23, 59, 59, 999)), 23)
  })

  it("copies the fields and lower-cases UUIDs", () => {
    const decoded = decodeOne(event({ user_id: USER.toUpperCase() })).value!
    assert.deepStrictEqual(toUserEventRow(decoded, "day"), {
      user_id: USER,
      bucket_date: "2024-05-01",
      bucket_hour: undefined,
      event_time: Date.UTC(2024, 4, 1, 12, 34, 56, 789),
      event_type: "page_view",
      event_id: EVENT,
      metadata: { page: "/home" }
    })
  })
})

describe("user_events table", () => {
  it("scripts/cassandra/schema.cql is the DDL `setup cassandra` runs with the defaults", () => {
    const ddl = userEventsTable({ ...tableOptions, bucket: "day", seedKey: false }).ddl
    const file = readFileSync(new URL("../../scripts/cassandra/schema.cql", import.meta.url), "utf8")
    const statements = file.split("\n").filter((l) => !l.startsWith("--")).join("\n").trim()
    assert.strictEqual(statements, ddl.join("\n\n"))
  })

  it("the seed key is the seed's exact PRIMARY KEY; the default adds event_id; hour adds bucket_hour", () => {
    const seed = userEventsTable({ ...tableOptions, bucket: "day", seedKey: true }).ddl[1]!
    assert.include(seed, "PRIMARY KEY ((user_id, bucket_date), event_time, event_type)\n")
    assert.include(seed, "WITH CLUSTERING ORDER BY (event_time DESC, event_type ASC);")
    const hour = userEventsTable({ ...tableOptions, bucket: "hour", seedKey: false })
    assert.include(hour.ddl[1]!, "PRIMARY KEY ((user_id, bucket_date, bucket_hour), event_time, event_type, event_id)")
    assert.strictEqual(
      hour.insert,
      "INSERT INTO event_streaming.user_events (user_id, bucket_date, bucket_hour, event_time, event_type, event_id, metadata) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
  })
})

describe("partition batches", () => {
  const row = (user: string, time: number, type: string, id: string): UserEventRow => ({
    user_id: user,
    bucket_date: utcDate(time),
    bucket_hour: undefined,
    event_time: time,
    event_type: type,
    event_id: id,
    metadata: { id }
  })
  const day = Date.UTC(2024, 4, 1)

  it("groups rows by partition key and splits big partitions", () => {
    const rows = [
      ...Array.from({ length: 5 }, (_, i) => row("a", day + i, "click", `a${i}`)),
      row("b", day, "click", "b0"),
      row("a", day + 86_400_000, "click", "a-next-day")
    ]
    const batches = partitionBatches(userEventsTable({ ...tableOptions, bucket: "day", seedKey: false }), rows, 2)
    assert.deepStrictEqual(batches.map((b) => b.map((r) => r.event_id)), [["a0", "a1"], ["a2", "a3"], ["a4"], ["b0"], [
      "a-next-day"
    ]])
  })

  it("keeps the later of two rows with one primary key (seed key: same user, millisecond and type)", () => {
    const rows = [row("a", day, "click", "first"), row("a", day, "click", "second"), row("a", day, "view", "other")]
    const seed = partitionBatches(userEventsTable({ ...tableOptions, bucket: "day", seedKey: true }), rows, 100)
    assert.deepStrictEqual(seed.flat().map((r) => r.event_id), ["second", "other"])
    const full = partitionBatches(userEventsTable({ ...tableOptions, bucket: "day", seedKey: false }), rows, 100)
    assert.deepStrictEqual(full.flat().map((r) => r.event_id), ["first", "second", "other"])
  })
})
