import { Clock, Effect, Stream } from "effect"
import type { DeadLetterSettings } from "../../config/PipelineConfig.ts"
import type { MalformedRecord } from "../../domain/MalformedRecord.ts"
import type { KafkaError } from "../../kafka/KafkaError.ts"
import type { CommitOffset, KafkaRecord, OutgoingRecord, SourceEvent, TopicPartition } from "../../kafka/KafkaRecord.ts"
import { KafkaSink } from "../../kafka/KafkaSink.ts"
import { KafkaSource } from "../../kafka/KafkaSource.ts"
import { PipelineRegistry, type Topology } from "../../observability/PipelineStats.ts"
import type { AssignOptions, Checkpoint, Firing, LateRecord, WindowEngine, WindowRecord } from "../../window/index.ts"
import { handleMalformed } from "./DeadLetters.ts"
import type { Decoded } from "./JsonDecoder.ts"
import { makeOffsetCommitter } from "./OffsetCommitter.ts"
import { retryTransient, trackAssignment, withCommitTicks } from "./StatelessPipeline.ts"

/** How a windowed pipeline's results leave the process, and when offsets are committed. */
export type WindowedOutput<K, Out, E = never, R = never> =
  /** Written to any sink, then the checkpoint is committed (at-least-once; sinks upsert by key + window). */
  | {
    readonly _tag: "AtLeastOnce"
    readonly write: (
      fired: ReadonlyArray<Firing<K, Out>>
    ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, E, R>
  }
  /** Kafka records produced in the same Kafka transaction as the checkpoint (exactly-once, Kafka to Kafka). */
  | {
    readonly _tag: "Transactional"
    readonly transactionalId: string
    readonly toRecords: (fired: ReadonlyArray<Firing<K, Out>>) => {
      readonly records: ReadonlyArray<OutgoingRecord>
      readonly rows: ReadonlyArray<Record<string, unknown>>
    }
  }

export interface WindowedPipeline<A, K, V, Out, E = never, R = never> {
  readonly name: string
  readonly groupId: string
  readonly topic: string
  readonly deadLetters: DeadLetterSettings
  readonly decode: (records: ReadonlyArray<KafkaRecord>) => Decoded<A>
  /** Key, event time and value of each decoded record (pure, one pass). */
  readonly toWindowRecord: (value: A, record: KafkaRecord) => WindowRecord<K, V>
  readonly engine: WindowEngine<K, V, Out>
  readonly output: WindowedOutput<K, Out, E, R>
  /** Optional topic for records later than the allowed lateness (always counted). */
  readonly lateTopic?: string | undefined
  /** How often processing time is fed to the engine (idle partitions, quiet streams). */
  readonly tickMs?: number | undefined
  /** How the dashboard draws the pipeline (sources default to the topic). */
  readonly topology?: Partial<Topology> | undefined
  /** At-least-once output: checkpoints are committed at most this often (default 1 s), and on shutdown. */
  readonly commitIntervalMs?: number | undefined
  /**
   * Engine steps that may run ahead of the output (default 1: the next batch goes through the engine
   * while the previous output awaits its acknowledgement). Outputs are still written one after another,
   * in order: a newer window of a key must never be overwritten by an older one in an upserting sink.
   */
  readonly aheadOfOutput?: number | undefined
  /** Partitions consumed concurrently (default KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY). */
  readonly parallelism?: number | undefined
  /** Runs once per output, with its rows, after the output was acknowledged or committed (dashboard tallies). */
  readonly afterWrite?: ((rows: ReadonlyArray<Record<string, unknown>>) => Effect.Effect<void>) | undefined
}

/**
 * The watermark state stored as Kafka commit metadata next to the safe offset: with it, a restarted
 * or newly assigned owner replays from the safe offset without re-emitting windows that were already
 * final (see WindowEngine's "Safe offset, checkpoints and replay").
 */
export const encodeCheckpointMetadata = (c: Checkpoint): string =>
  JSON.stringify({ w: c.watermark, pw: c.partitionWatermark, e: c.endOffset })

export const decodeCheckpointMetadata = (metadata: string | undefined): AssignOptions => {
  if (metadata === undefined || metadata.length === 0) return {}
  try {
    const m = JSON.parse(metadata) as { w?: unknown; pw?: unknown; e?: unknown }
    return {
      ...(typeof m.w === "number" ? { restoredWatermark: m.w } : {}),
      ...(typeof m.pw === "number" ? { restoredPartitionWatermark: m.pw } : {}),
      ...(typeof m.e === "number" ? { replayEndOffset: m.e } : {})
    }
  } catch {
    return {}
  }
}

/**
 * Runs decode → event-time windows → output. Per batch: malformed records to the dead-letter policy,
 * valid ones into the engine, fired windows to the output, late records counted (and to `lateTopic`),
 * then the partition's checkpoint (safe offset + watermark metadata) is committed — after the output
 * is acknowledged, or inside the same Kafka transaction. The engine may run `aheadOfOutput` steps ahead
 * while an output awaits its acknowledgement; outputs are written one after another and checkpoints
 * marked in the same order, so a commit never covers an unacknowledged output and a key's windows reach
 * the sink oldest first. A timer feeds processing time so quiet partitions still close their windows.
 */
export const runWindowedPipeline = <A, K, V, Out, E = never, R = never>(
  pipeline: WindowedPipeline<A, K, V, Out, E, R>
) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const sink = yield* KafkaSink
    const stats = yield* (yield* PipelineRegistry).register(pipeline.name)
    const { engine, output } = pipeline
    const subscription = yield* source.subscribe({
      groupId: pipeline.groupId,
      topics: [pipeline.topic],
      partitionsConsumedConcurrently: pipeline.parallelism
    })
    const transactional = output._tag === "Transactional"
      ? yield* sink.transactional(output.transactionalId)
      : undefined
    const committer = makeOffsetCommitter(subscription, stats, pipeline.commitIntervalMs ?? 1_000)
    stats.attachSource({ groupId: pipeline.groupId, topics: [pipeline.topic], connection: subscription.connection })
    stats.describe({ sources: [pipeline.topic], stages: ["decode", "windows"], ...pipeline.topology })
    /** Window state and watermarks after each batch or tick, for the dashboard and /metrics. */
    const reportWindows = () => {
      const s = engine.stats()
      stats.windowState({
        openWindows: s.openKeyWindows,
        stateSize: s.recordsInOpenWindows,
        watermark: engine.watermark(),
        partitionWatermarks: engine.assignedPartitions().map((partition) => ({
          topic: pipeline.topic,
          partition,
          watermark: engine.partitionWatermark(partition)
        }))
      })
    }
    yield* Effect.logInfo(`pipeline ${pipeline.name} consuming ${pipeline.topic} as group ${pipeline.groupId}`)

    const checkpoints = (partitions: ReadonlyArray<number>): Array<CommitOffset> =>
      partitions.flatMap((partition) => {
        const c = engine.checkpoint(partition)
        return c === undefined
          ? []
          : [{ topic: pipeline.topic, partition, offset: String(c.offset), metadata: encodeCheckpointMetadata(c) }]
      })

    const sendLate = (late: ReadonlyArray<LateRecord<WindowRecord<K, V>>>, byOffset: Map<number, KafkaRecord>) =>
      Effect.gen(function*() {
        if (late.length === 0) return
        yield* stats.lateArrivals(late.length)
        if (pipeline.lateTopic === undefined) return
        const records = late.flatMap((l) => {
          const raw = byOffset.get(l.record.offset)
          return raw === undefined ? [] : [{
            topic: pipeline.lateTopic!,
            key: raw.key,
            value: raw.value,
            headers: { ...raw.headers, "tributary.late.windows": String(l.missedWindows.length) }
          }]
        })
        yield* retryTransient("late records produce", sink.send(records), stats)
      })

    const written = (rows: ReadonlyArray<Record<string, unknown>>) =>
      pipeline.afterWrite === undefined
        ? stats.written(rows)
        : Effect.andThen(stats.written(rows), pipeline.afterWrite(rows))

    /**
     * Output of one engine step: fired windows plus the checkpoints taken right after the step (the
     * engine moves on before the output is acknowledged, so they are captured here).
     */
    const step = (fired: ReadonlyArray<Firing<K, Out>>, partitions: ReadonlyArray<number>): Step<K, Out> => ({
      _tag: "Emit",
      fired,
      offsets: checkpoints(partitions)
    })

    /** Emits fired windows: the transaction commits the checkpoints itself; otherwise returns them to mark. */
    const emit = (emitStep: Step<K, Out>): Effect.Effect<Step<K, Out>, KafkaError | E, R> =>
      Effect.gen(function*() {
        if (emitStep._tag !== "Emit") return emitStep
        const { fired, offsets } = emitStep
        if (transactional !== undefined && output._tag === "Transactional") {
          const { records, rows } = output.toRecords(fired)
          if (records.length === 0 && offsets.length === 0) return noStep
          const start = yield* Clock.currentTimeMillis
          yield* retryTransient(
            `${pipeline.name} transaction`,
            transactional.sendAndCommit(records, { groupId: pipeline.groupId, offsets }),
            stats
          )
          yield* stats.committed(offsets, (yield* Clock.currentTimeMillis) - start)
          yield* written(rows)
          return noStep
        }
        if (output._tag === "AtLeastOnce" && fired.length > 0) {
          yield* written(
            yield* stats.timed("output", retryTransient(`${pipeline.name} write`, output.write(fired), stats))
          )
        }
        return emitStep
      }).pipe(Effect.uninterruptible)

    /** The in-order tail: checkpoints are marked only after their output (and all earlier ones) is acknowledged. */
    const applyStep = (applied: Step<K, Out>): Effect.Effect<void> => {
      switch (applied._tag) {
        case "Emit":
          return applied.offsets.length > 0 ? committer.mark(applied.offsets) : Effect.void
        case "Tick":
          return committer.flushIfDue
        case "Revoked":
          return committer.forget(applied.partitions)
        case "None":
          return Effect.void
      }
    }

    const onBatch = (event: Extract<SourceEvent, { _tag: "Batch" }>) =>
      Effect.gen(function*() {
        const last = event.records[event.records.length - 1]!
        yield* stats.consumed(event.records.length, {
          topic: event.topic,
          partition: event.partition,
          lastOffset: last.offset
        })
        const { malformed, valid } = pipeline.decode(event.records)
        yield* handleMalformed(
          stats,
          pipeline.deadLetters,
          malformed,
          (records) => retryTransient("dead-letter produce", sink.send(records), stats)
        )
        const windowRecords = valid.map((v) => pipeline.toWindowRecord(v.value, v.record))
        const now = yield* Clock.currentTimeMillis
        const result = engine.process(event.partition, windowRecords, now)
        reportWindows()
        if (result.late.length > 0) {
          yield* sendLate(result.late, new Map(valid.map((v) => [Number(v.record.offset), v.record])))
        }
        return step(result.fired, firedPartitions(result.fired, event.partition))
      }).pipe(
        // A batch that went into the engine is handed on; its checkpoint is marked only after its output.
        Effect.uninterruptible,
        Effect.annotateLogs({ pipeline: pipeline.name, partition: event.partition })
      )

    const onTick = Effect.gen(function*() {
      const result = engine.onProcessingTime(yield* Clock.currentTimeMillis)
      reportWindows()
      return result.fired.length > 0 ? step(result.fired, firedPartitions(result.fired)) : tickStep
    }).pipe(Effect.uninterruptible)

    const onEvent = (
      event: SourceEvent | "tick"
    ): Effect.Effect<Step<K, Out>, MalformedRecord | KafkaError | E, R> => {
      if (event === "tick") return onTick
      if (event._tag === "Batch") return onBatch(event)
      if (event._tag === "Revoked") { for (const p of event.partitions) engine.revoke(p.partition) }
      else {
        for (const p of event.partitions) engine.assign(p.partition, decodeCheckpointMetadata(p.committedMetadata))
      }
      const revoked: Step<K, Out> = event._tag === "Revoked"
        ? { _tag: "Revoked", partitions: event.partitions }
        : noStep
      return Effect.as(trackAssignment(stats, event), revoked)
    }

    // The engine runs ahead of the output by a bounded number of steps; outputs are written in order.
    return yield* withCommitTicks(subscription.events, pipeline.tickMs).pipe(
      Stream.mapEffect(onEvent),
      Stream.buffer({ capacity: Math.max(1, pipeline.aheadOfOutput ?? 1) }),
      Stream.mapEffect(emit),
      Stream.runForEach(applyStep),
      Effect.ensuring(committer.flush)
    )
  })

/** What the in-order tail does after an event went through the engine. */
type Step<K, Out> =
  | {
    readonly _tag: "Emit"
    readonly fired: ReadonlyArray<Firing<K, Out>>
    readonly offsets: ReadonlyArray<CommitOffset>
  }
  | { readonly _tag: "Tick" }
  | { readonly _tag: "Revoked"; readonly partitions: ReadonlyArray<TopicPartition> }
  | { readonly _tag: "None" }

const noStep = { _tag: "None" } as const
const tickStep = { _tag: "Tick" } as const

/** Partitions whose checkpoint may have moved: those with fired windows, plus the batch's own. */
const firedPartitions = <K, Out>(fired: ReadonlyArray<Firing<K, Out>>, also?: number): Array<number> => {
  const set = new Set<number>(also === undefined ? [] : [also])
  for (const f of fired) set.add(f.partition)
  return [...set]
}
