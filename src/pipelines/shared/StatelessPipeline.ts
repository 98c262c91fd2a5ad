import { Effect, Stream } from "effect"
import type { DeadLetterSettings } from "../../config/PipelineConfig.ts"
import type { MalformedRecord } from "../../domain/MalformedRecord.ts"
import type { KafkaError } from "../../kafka/KafkaError.ts"
import { type KafkaRecord, nextOffset, type SourceEvent } from "../../kafka/KafkaRecord.ts"
import { KafkaSink } from "../../kafka/KafkaSink.ts"
import { KafkaSource } from "../../kafka/KafkaSource.ts"
import { PipelineRegistry, type PipelineStats } from "../../observability/PipelineStats.ts"
import { transientBackoff } from "../../shared/Backoff.ts"
import { handleMalformed } from "./DeadLetters.ts"
import type { Decoded } from "./JsonDecoder.ts"
import { makeOffsetCommitter } from "./OffsetCommitter.ts"

export interface StatelessPipeline<A, E, R> {
  readonly name: string
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  readonly deadLetters: DeadLetterSettings
  /** Pure: splits a batch into valid values and malformed records. */
  readonly decode: (records: ReadonlyArray<KafkaRecord>) => Decoded<A>
  /**
   * Writes a batch's valid values; succeeds only once the sink has acknowledged all of them. Returns the
   * rows written, for display. Failures are retried with backoff: a record is never skipped.
   */
  readonly write: (valid: Decoded<A>["valid"]) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, E, R>
  /** Offsets are committed at most this often (default 1 s), and on shutdown. */
  readonly commitIntervalMs?: number | undefined
}

/** Retries a transport failure forever with backoff, logging each failure: progress waits, data is kept. */
export const retryTransient = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.tapError((e) => Effect.logWarning(`${what} failed, retrying: ${errorText(e)}`)),
    Effect.retry(transientBackoff)
  )

const errorText = (e: unknown): string => (e instanceof Error || (typeof e === "object" && e !== null && "message" in e)
  ? String((e as { message: unknown }).message)
  : String(e))

/**
 * Runs a decode → write pipeline: for each partition batch, malformed records go to the dead-letter
 * policy, valid ones to `write`, and only when both are acknowledged is the offset after the batch
 * committed. A crash therefore replays at most the batches in flight (at-least-once); sinks upsert by
 * key, so replays are harmless.
 */
export const runStatelessPipeline = <A, E, R>(pipeline: StatelessPipeline<A, E, R>) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const sink = yield* KafkaSink
    const stats = yield* (yield* PipelineRegistry).register(pipeline.name)
    const subscription = yield* source.subscribe({ groupId: pipeline.groupId, topics: pipeline.topics })
    const committer = makeOffsetCommitter(subscription, stats, pipeline.commitIntervalMs ?? 1_000)
    yield* Effect.logInfo(
      `pipeline ${pipeline.name} consuming ${pipeline.topics.join(", ")} as group ${pipeline.groupId}`
    )

    const sendDeadLetters = (records: Parameters<typeof sink.send>[0]) =>
      retryTransient("dead-letter produce", sink.send(records))
    const onEvent = (event: SourceEvent | "tick"): Effect.Effect<void, MalformedRecord | KafkaError | E, R> => {
      if (event === "tick") return committer.flushIfDue
      if (event._tag === "Revoked") {
        return Effect.andThen(committer.forget(event.partitions), trackAssignment(stats, event))
      }
      if (event._tag !== "Batch") {
        return trackAssignment(stats, event)
      }
      const last = event.records[event.records.length - 1]!
      return Effect.gen(function*() {
        yield* stats.consumed(event.records.length)
        const { malformed, valid } = pipeline.decode(event.records)
        yield* handleMalformed(stats, pipeline.deadLetters, malformed, sendDeadLetters)
        if (valid.length > 0) {
          yield* stats.written(yield* retryTransient(`${pipeline.name} write`, pipeline.write(valid)))
        }
        yield* committer.mark([{ topic: event.topic, partition: event.partition, offset: nextOffset(last.offset) }])
      }).pipe(
        // A batch that started is finished and committed before shutdown takes effect.
        Effect.uninterruptible,
        Effect.annotateLogs({ pipeline: pipeline.name, partition: event.partition, offset: last.offset })
      )
    }
    return yield* withCommitTicks(subscription.events).pipe(
      Stream.runForEach(onEvent),
      Effect.ensuring(committer.flush)
    )
  })

/** The source's events, plus a tick every second so quiet pipelines still commit and close windows. */
export const withCommitTicks = <A, E>(events: Stream.Stream<A, E>, tickMs = 1_000) =>
  Stream.merge(events, Stream.tick(tickMs).pipe(Stream.map(() => "tick" as const)), { haltStrategy: "left" })

export const trackAssignment = (stats: PipelineStats, event: Exclude<SourceEvent, { _tag: "Batch" }>) =>
  Effect.gen(function*() {
    const names = event.partitions.map((p) => `${p.topic}:${p.partition}`)
    if (event._tag === "Assigned") names.forEach((n) => stats.assigned.add(n))
    else names.forEach((n) => stats.assigned.delete(n))
    yield* Effect.logInfo(`${stats.name}: partitions ${event._tag.toLowerCase()}: ${names.join(", ")}`)
  })
