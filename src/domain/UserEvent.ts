import { Schema, SchemaGetter } from "effect"
import { NonEmptyText } from "./Text.ts"

/** Cassandra's `date` and the JS `Date` both end at year 9999 here; later values are almost surely unit mistakes. */
const MAX_EVENT_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** Epoch milliseconds (an integer). Seconds or microseconds are not guessed: producers send milliseconds. */
const EpochMillis = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0),
  Schema.isLessThanOrEqualTo(MAX_EVENT_TIME, { message: "Expected epoch milliseconds before year 10000" })
)

/**
 * ISO 8601 with an explicit zone (`Z` or `±hh:mm`): a zone-less time would be read in the host's local
 * time zone and land in a different bucket on another machine. Fractions beyond milliseconds are cut
 * (Cassandra's `timestamp` has millisecond precision).
 */
const IsoTimestamp = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i, {
    message: "Expected an ISO 8601 timestamp with a zone (e.g. 2024-05-01T12:00:00.123Z) or epoch milliseconds"
  })
).pipe(Schema.decodeTo(EpochMillis, {
  // An impossible date (month 13) parses to NaN, which EpochMillis then rejects.
  decode: SchemaGetter.transform((iso: string) => Date.parse(iso.replace(/(\.\d{3})\d+/, "$1"))),
  encode: SchemaGetter.transform((ms: number) => new Date(ms).toISOString())
}))

/** `event_time` on the wire: an ISO 8601 string with a zone, or epoch milliseconds. Decoded to epoch ms. */
export const EventTime = Schema.Union([EpochMillis, IsoTimestamp])

const Uuid = Schema.String.check(Schema.isUUID())

/**
 * `map<text, text>`: a JSON object of strings, checked as one value so a failure names `metadata` (the
 * shared issue formatter reads top-level paths only). Keys and values must have a UTF-8 form (see
 * Text.ts): the driver would store a lone surrogate as U+FFFD.
 */
const StringMap = Schema.declare(
  (u): u is Readonly<Record<string, string>> =>
    typeof u === "object" && u !== null && !Array.isArray(u) &&
    Object.entries(u).every(([k, v]) => typeof v === "string" && v.isWellFormed() && k.isWellFormed()),
  { expected: "an object of string values (keys and values without lone UTF-16 surrogates)" }
)

/** A user action as producers publish it on `user-events` (seed 004's `UserEvent`). */
export const UserEvent = Schema.Struct({
  event_id: Uuid,
  user_id: Uuid,
  event_type: NonEmptyText,
  event_time: EventTime,
  /** Free-form string attributes (page, element, amount...). Missing means empty. */
  metadata: Schema.optionalKey(StringMap)
})
export type UserEvent = typeof UserEvent.Type

/**
 * Partition bucket of the Cassandra table. `day` is the seed's `bucket_date`; `hour` adds `bucket_hour`
 * to the partition key for users so active that a day's partition would grow too large (hot partition).
 */
export type BucketGranularity = "day" | "hour"

/** One row of `event_streaming.user_events` (seed's `UserEventCassandraModel`), in driver-ready values. */
export type UserEventRow = {
  readonly user_id: string
  /** UTC date of `event_time`, `YYYY-MM-DD` (what the driver takes for CQL `date`). */
  readonly bucket_date: string
  /** UTC hour 0-23 of `event_time`, only with hour buckets. */
  readonly bucket_hour: number | undefined
  /** Epoch milliseconds. */
  readonly event_time: number
  readonly event_type: string
  readonly event_id: string
  readonly metadata: Readonly<Record<string, string>>
}

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000

/** UTC calendar date of an epoch-ms instant, `YYYY-MM-DD`. */
export const utcDate = (epochMs: number): string => new Date(epochMs - (epochMs % DAY_MS)).toISOString().slice(0, 10)

/** UTC hour (0-23) of an epoch-ms instant. */
export const utcHour = (epochMs: number): number => Math.floor((epochMs % DAY_MS) / HOUR_MS)

/** Maps a decoded event to its table row. UUIDs are lower-cased so the partition key is the one Cassandra shows. */
export const toUserEventRow = (event: UserEvent, bucket: BucketGranularity): UserEventRow => ({
  user_id: event.user_id.toLowerCase(),
  bucket_date: utcDate(event.event_time),
  bucket_hour: bucket === "hour" ? utcHour(event.event_time) : undefined,
  event_time: event.event_time,
  event_type: event.event_type,
  event_id: event.event_id.toLowerCase(),
  metadata: event.metadata ?? {}
})

/** The Cassandra partition a row belongs to, as one string (for grouping a batch by partition). */
export const partitionKeyOf = (row: UserEventRow): string =>
  row.bucket_hour === undefined
    ? `${row.user_id}|${row.bucket_date}`
    : `${row.user_id}|${row.bucket_date}|${row.bucket_hour}`
