import { Effect, Stream } from "effect"
import type { DeadLetterSettings } from "../../config/PipelineConfig.ts"
import { type CommitOffset, type KafkaRecord, nextOffset, type SourceEvent } from "../../kafka/KafkaRecord.ts"
import { KafkaSink } from "../../kafka/KafkaSink.ts"
import { KafkaSource } from "../../kafka/KafkaSource.ts"
import { PipelineRegistry, type PipelineStats, type Topology } from "../../observability/PipelineStats.ts"
import { transientBackoff } from "../../shared/Retry.ts"
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
  /**
   * Groups of batches processed at once (default 2: one being written while the next is decoded).
   * Their writes may complete out of order, so sinks must not depend on write order across batches.
   */
  readonly maxInFlight?: number | undefined
  /** How the dashboard draws the pipeline (sources default to the topics). */
  readonly topology?: Partial<Topology> | undefined
}

/**
 * Retries a transport failure forever with backoff, logging each failure (and counting it by error type
 * when given the pipeline's stats): progress waits, data is kept.
 */
export const retryTransient = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, stats?: PipelineStats) =>
  effect.pipe(
    Effect.tapError((e) =>
      Effect.andThen(
        stats === undefined ? Effect.void : stats.failed(errorType(e)),
        Effect.logWarning(`${what} failed, retrying: ${errorText(e)}`)
      )
    ),
    Effect.retry(transientBackoff)
  )

const errorType = (e: unknown): string =>
  typeof e === "object" && e !== null && "_tag" in e ? String((e as { _tag: unknown })._tag) : "Error"

const errorText = (e: unknown): string => (e instanceof Error || (typeof e === "object" && e !== null && "message" in e)
  ? String((e as { message: unknown }).message)
  : String(e))

/** What the in-order tail of the pipeline does once a group of events has been processed. */
type Step =
  | { readonly _tag: "Commit"; readonly offsets: ReadonlyArray<CommitOffset> }
  | { readonly _tag: "Assignment"; readonly event: Exclude<SourceEvent, { _tag: "Batch" }> }
  | { readonly _tag: "Tick" }

/**
 * Runs a decode → write pipeline. Whatever batches are waiting when the pipeline asks for more are
 * handled together: one decode pass, one dead-letter produce, one `write`; up to `maxInFlight` such
 * groups run at once (the next group is decoded and encoded while the previous write awaits its
 * acknowledgement), and their results are applied strictly in order. Only when a group's dead letters
 * and writes are acknowledged are its offsets marked for commit (see OffsetCommitter). A crash
 * replays at most the groups in flight (at-least-once); sinks upsert by key, so replays are harmless.
 */
export const runStatelessPipeline = <A, E, R>(pipeline: StatelessPipeline<A, E, R>) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const sink = yield* KafkaSink
    const stats = yield* (yield* PipelineRegistry).register(pipeline.name)
    const subscription = yield* source.subscribe({ groupId: pipeline.groupId, topics: pipeline.topics })
    const committer = makeOffsetCommitter(subscription, stats, pipeline.commitIntervalMs ?? 1_000)
    stats.attachSource({ groupId: pipeline.groupId, topics: pipeline.topics, connection: subscription.connection })
    stats.describe({ sources: pipeline.topics, stages: ["decode", "write"], ...pipeline.topology })
    yield* Effect.logInfo(
      `pipeline ${pipeline.name} consuming ${pipeline.topics.join(", ")} as group ${pipeline.groupId}`
    )
    const sendDeadLetters = (records: Parameters<typeof sink.send>[0]) =>
      retryTransient("dead-letter produce", stats.timed("dead letters", sink.send(records)), stats)

    /** Decodes and writes the batches of a group together; returns the offsets after each batch. */
    const writeBatches = (batches: ReadonlyArray<Extract<SourceEvent, { _tag: "Batch" }>>) =>
      Effect.gen(function*() {
        const records = batches.length === 1 ? batches[0]!.records : batches.flatMap((b) => b.records)
        for (const b of batches) {
          const last = b.records[b.records.length - 1]!
          yield* stats.consumed(b.records.length, { topic: b.topic, partition: b.partition, lastOffset: last.offset })
        }
        const { malformed, valid } = pipeline.decode(records)
        yield* handleMalformed(stats, pipeline.deadLetters, malformed, sendDeadLetters)
        if (valid.length > 0) {
          const rows = yield* stats.timed(
            "output",
            retryTransient(`${pipeline.name} write`, pipeline.write(valid), stats)
          )
          // Per-partition figures when the group holds one partition's batches.
          const only = batches.every((b) => b.partition === batches[0]!.partition && b.topic === batches[0]!.topic)
          yield* stats.written(rows, only ? { topic: batches[0]!.topic, partition: batches[0]!.partition } : undefined)
        }
        const offsets: Array<CommitOffset> = batches.map((b) => ({
          topic: b.topic,
          partition: b.partition,
          offset: nextOffset(b.records[b.records.length - 1]!.offset)
        }))
        return { _tag: "Commit", offsets } as const
      }).pipe(
        // A group that started is finished (written, acknowledged) before shutdown takes effect.
        Effect.uninterruptible,
        Effect.annotateLogs({ pipeline: pipeline.name, partition: batches[0]!.partition })
      )

    const processGroup = (events: ReadonlyArray<SourceEvent | "tick">) =>
      Effect.gen(function*() {
        const steps: Array<Step> = []
        let batches: Array<Extract<SourceEvent, { _tag: "Batch" }>> = []
        const flushBatches = Effect.suspend(() => {
          if (batches.length === 0) return Effect.void
          const group = batches
          batches = []
          return Effect.map(writeBatches(group), (step) => void steps.push(step))
        })
        for (const event of events) {
          if (event === "tick") steps.push({ _tag: "Tick" })
          else if (event._tag === "Batch") batches.push(event)
          else {
            // Assignment changes split groups, so commits before and after them stay in order.
            yield* flushBatches
            steps.push({ _tag: "Assignment", event })
          }
        }
        yield* flushBatches
        return steps
      })

    const applyStep = (step: Step): Effect.Effect<void> => {
      switch (step._tag) {
        case "Commit":
          return committer.mark(step.offsets)
        case "Tick":
          return committer.flushIfDue
        case "Assignment":
          return step.event._tag === "Revoked"
            ? Effect.andThen(committer.forget(step.event.partitions), trackAssignment(stats, step.event))
            : trackAssignment(stats, step.event)
      }
    }

    return yield* withCommitTicks(subscription.events).pipe(
      Stream.chunks,
      Stream.mapEffect(processGroup, { concurrency: pipeline.maxInFlight ?? 2 }),
      Stream.runForEach((steps) => Effect.forEach(steps, applyStep, { discard: true })),
      Effect.ensuring(committer.flush)
    )
  })

/** The source's events, plus a tick every second so quiet pipelines still commit and close windows. */
export const withCommitTicks = <A, E>(events: Stream.Stream<A, E>, tickMs = 1_000) =>
  Stream.merge(events, Stream.tick(tickMs).pipe(Stream.map(() => "tick" as const)), { haltStrategy: "left" })

export const trackAssignment = (stats: PipelineStats, event: Exclude<SourceEvent, { _tag: "Batch" }>) =>
  Effect.gen(function*() {
    const names = event.partitions.map((p) => `${p.topic}:${p.partition}`)
    yield* stats.assignment(event._tag, event.partitions)
    yield* Effect.logInfo(`${stats.name}: partitions ${event._tag.toLowerCase()}: ${names.join(", ")}`)
  })
