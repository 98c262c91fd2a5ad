import { Effect, Option } from "effect"
import type { DeadLetterSettings } from "../config/PipelineConfig.ts"
import { MalformedRecord } from "../domain/MalformedRecord.ts"
import type { KafkaRecord, OutgoingRecord } from "../kafka/KafkaRecord.ts"
import { summariseRejected } from "../observability/DeadLetterSummary.ts"
import type { PipelineStats } from "../observability/PipelineStats.ts"

/** Header names on dead-letter records: the reason and where the record came from. */
export const DeadLetterHeaders = {
  reason: "tributary.error.reason",
  pipeline: "tributary.pipeline",
  topic: "tributary.source.topic",
  partition: "tributary.source.partition",
  offset: "tributary.source.offset",
  timestamp: "tributary.source.timestamp",
  /** Set when the record was too large to dead-letter whole: its original value size in bytes. */
  truncated: "tributary.dead-letter.truncated"
} as const

/** Reasons longer than this are cut (a reason may quote the input). */
const maxReasonLength = 1_024
/** What a too-large dead letter keeps of its key and value. */
const keptPrefixBytes = 1_024

const capReason = (reason: string): string =>
  reason.length <= maxReasonLength
    ? reason
    : `${reason.slice(0, maxReasonLength)}… (cut from ${reason.length} characters)`

const sizeOf = (record: KafkaRecord): number => {
  let size = (record.key?.length ?? 0) + (record.value?.length ?? 0)
  for (const [name, value] of Object.entries(record.headers)) size += name.length + value.length
  return size
}

const byteLength = (v: Buffer | string | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === "string" ? Buffer.byteLength(v) : v.length

const outgoingSize = (record: OutgoingRecord): number => {
  let size = byteLength(record.key) + byteLength(record.value)
  for (const [name, value] of Object.entries(record.headers ?? {})) size += name.length + byteLength(value)
  return size
}

const prefix = (v: Buffer | string | null | undefined): Buffer | null =>
  v === null || v === undefined ? null : (typeof v === "string" ? Buffer.from(v) : v).subarray(0, keptPrefixBytes)

/**
 * Sets aside the records of a step's Kafka output larger than `limit` (OUTPUT_MAX_RECORD_BYTES: the
 * broker would refuse them on every retry) under the dead-letter policy, as dead letters on the
 * source's dead-letter topic: a prefix of the key and value, the original size and the reason.
 * Returns the records to produce.
 */
export const handleOversizeOutputs = <E>(
  stats: PipelineStats,
  settings: DeadLetterSettings,
  sourceTopic: string,
  records: ReadonlyArray<OutgoingRecord>,
  limit: number,
  send: (records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<void, E>
): Effect.Effect<ReadonlyArray<OutgoingRecord>, E | MalformedRecord> => {
  if (records.every((r) => outgoingSize(r) <= limit)) return Effect.succeed(records)
  const kept: Array<OutgoingRecord> = []
  const oversize: Array<{ readonly record: OutgoingRecord; readonly error: MalformedRecord }> = []
  for (const record of records) {
    const size = outgoingSize(record)
    if (size <= limit) kept.push(record)
    else {
      const reason =
        `output record for ${record.topic} is ${size} bytes, more than OUTPUT_MAX_RECORD_BYTES (${limit}): ` +
        `the broker would refuse it`
      const error = new MalformedRecord({ topic: record.topic, partition: record.partition ?? -1, offset: "-", reason })
      oversize.push({ record, error })
    }
  }
  const deadLetters = () =>
    oversize.map(({ error, record }) => ({
      topic: deadLetterTopic(settings, sourceTopic),
      key: prefix(record.key),
      value: prefix(record.value),
      headers: {
        [DeadLetterHeaders.truncated]: String(byteLength(record.value)),
        [DeadLetterHeaders.reason]: capReason(error.reason),
        [DeadLetterHeaders.pipeline]: stats.name,
        [DeadLetterHeaders.topic]: record.topic
      }
    }))
  const policy = applyPolicy(stats, settings, oversize.map((o) => o.error), deadLetters, send, sourceTopic)
  return Effect.as(policy, kept)
}

export const deadLetterTopic = (settings: DeadLetterSettings, sourceTopic: string): string =>
  Option.getOrElse(settings.topic, () => `${sourceTopic}.dlq`)

/** The original key, value and headers, plus the reason and source coordinates in headers. */
export const toDeadLetters = (
  pipeline: string,
  settings: DeadLetterSettings,
  malformed: ReadonlyArray<{ readonly record: KafkaRecord; readonly error: MalformedRecord }>
): Array<OutgoingRecord> =>
  malformed.map(({ error, record }) => {
    // Too large to fit: the coordinates, size, reason and a prefix still go, flagged.
    const whole = sizeOf(record) <= settings.maxRecordBytes
    return {
      topic: deadLetterTopic(settings, record.topic),
      key: whole ? record.key : record.key?.subarray(0, keptPrefixBytes) ?? null,
      value: whole ? record.value : record.value?.subarray(0, keptPrefixBytes) ?? null,
      headers: {
        ...(whole ? record.headers : { [DeadLetterHeaders.truncated]: String(record.value?.length ?? 0) }),
        [DeadLetterHeaders.reason]: capReason(error.reason),
        [DeadLetterHeaders.pipeline]: pipeline,
        [DeadLetterHeaders.topic]: record.topic,
        [DeadLetterHeaders.partition]: String(record.partition),
        [DeadLetterHeaders.offset]: record.offset,
        [DeadLetterHeaders.timestamp]: String(record.timestamp)
      }
    }
  })

/**
 * Applies the dead-letter policy to a batch's malformed records: `dead-letter` produces them (and
 * succeeds only once acknowledged), `drop` counts them, `fail` stops the pipeline with the first one.
 * Dead letters and drops are logged as a periodic summary per pipeline (DeadLetterSummary), not per batch.
 */
export const handleMalformed = <E>(
  stats: PipelineStats,
  settings: DeadLetterSettings,
  malformed: ReadonlyArray<{ readonly record: KafkaRecord; readonly error: MalformedRecord }>,
  send: (records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<void, E>
): Effect.Effect<void, E | MalformedRecord> =>
  malformed.length === 0 ? Effect.void : applyPolicy(
    stats,
    settings,
    malformed.map((m) => m.error),
    () => toDeadLetters(stats.name, settings, malformed),
    send,
    malformed[0]!.record.topic
  )

/** The dead-letter policy for records set aside (`errors`, with their dead letters made on demand). */
const applyPolicy = <E>(
  stats: PipelineStats,
  settings: DeadLetterSettings,
  errors: ReadonlyArray<MalformedRecord>,
  deadLetters: () => ReadonlyArray<OutgoingRecord>,
  send: (records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<void, E>,
  sourceTopic: string
): Effect.Effect<void, E | MalformedRecord> =>
  Effect.suspend((): Effect.Effect<void, E | MalformedRecord> => {
    switch (settings.policy) {
      case "fail":
        return Effect.fail(errors[0]!)
      case "drop":
        return Effect.andThen(
          stats.rejected(errors.length, "drop"),
          summariseRejected(stats.deadLetterSummary, errors, { _tag: "Drop" })
        )
      case "dead-letter":
        return send(deadLetters()).pipe(
          Effect.andThen(stats.rejected(errors.length, "dead-letter")),
          Effect.andThen(summariseRejected(stats.deadLetterSummary, errors, {
            _tag: "DeadLetter",
            topic: deadLetterTopic(settings, sourceTopic)
          })),
          // Traced as a step of the batch's write (its parent span), with where the records went.
          Effect.withSpan("dead-letters", {
            attributes: { "tributary.pipeline": stats.name, "tributary.records": errors.length }
          })
        )
    }
  })
