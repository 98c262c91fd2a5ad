import { Clock, Effect, Option } from "effect"
import type { OutgoingRecord } from "../kafka/KafkaRecord.ts"
import { KafkaSink } from "../kafka/KafkaSink.ts"
import { allTransient, errorText, retryWith } from "../shared/Retry.ts"

export interface PublishOptions {
  readonly ratePerSecond: number
  /** Stop after this many records; run until interrupted when none. */
  readonly count: Option.Option<number>
  /** Makes `n` records with the given event time. */
  readonly make: (n: number, nowMs: number) => ReadonlyArray<OutgoingRecord>
  /** Re-encodes each batch before it is sent (Confluent-framed Avro for INPUT_FORMAT=confluent-avro). */
  readonly encode?:
    | ((records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<ReadonlyArray<OutgoingRecord>, unknown>)
    | undefined
}

const retryLog = (e: unknown) => Effect.logWarning(`simulator produce failed, retrying: ${errorText(e)}`)

/**
 * Publishes at a steady rate in small batches (one produce per tick, not per record), catching up
 * after a slow tick so the average rate holds. Returns the number of records published.
 */
export const publishAtRate = Effect.fn("Publisher.publishAtRate")(function*(options: PublishOptions) {
  const sink = yield* KafkaSink
  const tickMs = Math.max(20, Math.min(1_000, 1_000 / options.ratePerSecond))
  const startedAt = yield* Clock.currentTimeMillis
  const limit = Option.getOrElse(options.count, () => Number.POSITIVE_INFINITY)
  let published = 0
  while (published < limit) {
    const now = yield* Clock.currentTimeMillis
    const due = Math.min(limit, Math.floor(((now - startedAt) / 1_000) * options.ratePerSecond) + 1) - published
    if (due > 0) {
      const made = options.make(due, now)
      const records = options.encode === undefined ? made : yield* options.encode(made)
      yield* sink.send(records).pipe(retryWith({ classify: allTransient, onRetry: retryLog }))
      published += due
    }
    if (published < limit) yield* Effect.sleep(tickMs)
  }
  return published
})
