/**
 * What the runner's stages hand each other (`Step`), and the windowed transform's part of the
 * prepare stage: records into the pure engine, fired windows and checkpoints out.
 */
import { MalformedRecord } from "../domain/MalformedRecord.ts"
import type {
  CommitOffset,
  GroupMembership,
  KafkaRecord,
  OutgoingRecord,
  RecordBatch,
  SourceEvent,
  TopicPartition
} from "../kafka/KafkaRecord.ts"
import type { PipelineStats } from "../observability/PipelineStats.ts"
import type { Firing, LateRecord, WindowRecord } from "../window/index.ts"
import type { Decoded } from "./BatchDecoder.ts"
import { decodeCheckpointMetadata, encodeCheckpointMetadata } from "./CheckpointMetadata.ts"
import type { WindowedTransform } from "./Job.ts"

export type Assignment = Exclude<SourceEvent, RecordBatch>

/** What one prepared event becomes; the write stage fills in nothing but acknowledgements. */
export type Step<Item> =
  | {
    readonly _tag: "Write"
    readonly items: ReadonlyArray<Item>
    /** The record behind each item, when items map one to one to records (a map transform). */
    readonly sources?: ReadonlyArray<{ readonly record: KafkaRecord }> | undefined
    readonly malformed: Decoded<unknown>["malformed"]
    /** Records later than the allowed lateness: counted, and produced when the job names a late topic. */
    readonly lateCount: number
    readonly late: ReadonlyArray<OutgoingRecord>
    /** Offsets safe to commit once this step (and every earlier one) is acknowledged. */
    readonly offsets: ReadonlyArray<CommitOffset>
    /** The partition all of the step's records came from, when there is one (per-partition figures). */
    readonly partition: TopicPartition | undefined
    /** The consumer's group membership when the records were read (transactions commit as it). */
    readonly membership?: GroupMembership | undefined
  }
  | { readonly _tag: "Tick" }
  | { readonly _tag: "Assignment"; readonly event: Assignment }

export const tick = { _tag: "Tick" } as const

/**
 * The windowed transform's side of stage 1: records into the engine, fired windows out, with the
 * checkpoints (safe offset + watermark metadata) taken right after the step — the engine moves on
 * before the output is acknowledged, so they are captured here.
 */
export const windowStage = <A>(
  windows: WindowedTransform<A, unknown, unknown, unknown>,
  topic: string,
  stats: PipelineStats,
  maxFutureSkewMs: number
) => {
  const { engine } = windows

  const report = () => {
    const s = engine.stats()
    stats.windowState({
      openWindows: s.openKeyWindows,
      stateSize: s.recordsInOpenWindows,
      watermark: engine.watermark(),
      partitionWatermarks: engine.assignedPartitions().map((partition) => ({
        topic,
        partition,
        watermark: engine.partitionWatermark(partition)
      }))
    })
  }

  /** Whether each partition was idle in its latest checkpoint: a change is checkpointed on the next tick. */
  const idleInCheckpoint = new Map<number, boolean>()
  const checkpoints = (partitions: Iterable<number>): Array<CommitOffset> => {
    const out: Array<CommitOffset> = []
    for (const partition of partitions) {
      const c = engine.checkpoint(partition)
      if (c !== undefined) {
        idleInCheckpoint.set(partition, c.idle)
        out.push({ topic, partition, offset: String(c.offset), metadata: encodeCheckpointMetadata(c) })
      }
    }
    return out
  }
  /** Partitions that became idle (or active) since their latest checkpoint. */
  const idleChanged = (): Array<number> =>
    engine.assignedPartitions().filter((p) => {
      const c = engine.checkpoint(p)
      return c !== undefined && c.idle !== (idleInCheckpoint.get(p) ?? false)
    })

  const lateRecords = (
    late: ReadonlyArray<LateRecord<WindowRecord<unknown, unknown>>>,
    valid: Decoded<A>["valid"]
  ): Array<OutgoingRecord> => {
    if (late.length === 0 || windows.lateTopic === undefined) return []
    const byOffset = new Map<number, KafkaRecord>(valid.map((v) => [Number(v.record.offset), v.record]))
    return late.flatMap((l) => {
      const raw = byOffset.get(l.record.offset)
      return raw === undefined ? [] : [{
        topic: windows.lateTopic!,
        key: raw.key,
        value: raw.value,
        headers: { ...raw.headers, "tributary.late.windows": String(l.missedWindows.length) }
      }]
    })
  }

  return {
    process: (
      batch: RecordBatch,
      malformed: Decoded<A>["malformed"],
      valid: Decoded<A>["valid"],
      now: number
    ): Step<Firing<unknown, unknown>> => {
      const records: Array<WindowRecord<unknown, unknown>> = []
      const horizon = now + maxFutureSkewMs
      let tooFar: Array<Decoded<A>["malformed"][number]> | undefined
      for (let i = 0; i < valid.length; i++) {
        const { record, value } = valid[i]!
        const windowRecord = windows.toWindowRecord(value, record)
        if (windowRecord.eventTime <= horizon) records.push(windowRecord)
        else {
          ;(tooFar ??= []).push({
            record,
            error: futureEventTime(record, windowRecord.eventTime, now, maxFutureSkewMs)
          })
        }
      }
      const result = engine.process(batch.partition, records, now)
      report()
      return {
        _tag: "Write",
        items: result.fired,
        malformed: tooFar === undefined ? malformed : [...malformed, ...tooFar],
        lateCount: result.late.length,
        late: lateRecords(result.late, valid),
        offsets: checkpoints(touched(result.fired, batch.partition)),
        partition: { topic: batch.topic, partition: batch.partition }
      }
    },
    onTick: (now: number): Step<Firing<unknown, unknown>> => {
      const result = engine.onProcessingTime(now)
      report()
      const partitions = touched(result.fired)
      for (const p of idleChanged()) partitions.add(p)
      return partitions.size === 0 ? tick : {
        _tag: "Write",
        items: result.fired,
        malformed: [],
        lateCount: 0,
        late: [],
        offsets: checkpoints(partitions),
        partition: undefined
      }
    },
    /** Returns a warning for each restored watermark that was ahead of the clock (and is clamped). */
    onAssignment: (event: Assignment, now: number): Array<string> => {
      if (event._tag === "Revoked") {
        for (const p of event.partitions) engine.revoke(p.partition)
        return []
      }
      const warnings: Array<string> = []
      const horizon = now + maxFutureSkewMs
      for (const p of event.partitions) {
        const restored = decodeCheckpointMetadata(p.committedMetadata)
        const ahead = Math.max(
          restored.restoredWatermark ?? -Infinity,
          restored.restoredPartitionWatermark ?? -Infinity
        )
        if (ahead > horizon) {
          warnings.push(
            `${topic}:${p.partition}: restored watermark ${new Date(ahead).toISOString()} is ahead of the ` +
              `clock by more than MAX_FUTURE_SKEW_SECONDS; clamped to ${new Date(horizon).toISOString()}`
          )
        }
        const { idle, ...assign } = restored
        engine.assign(p.partition, {
          ...assign,
          // Idle when checkpointed and nothing new since: idle again at once (until its next record),
          // as it was, rather than holding every other partition's windows back for the idle timeout.
          ...(idle === true && p.caughtUp === true ? { nowMs: -Infinity } : {}),
          ...(assign.restoredWatermark === undefined
            ? {}
            : { restoredWatermark: Math.min(assign.restoredWatermark, horizon) }),
          ...(restored.restoredPartitionWatermark === undefined
            ? {}
            : { restoredPartitionWatermark: Math.min(restored.restoredPartitionWatermark, horizon) })
        })
      }
      return warnings
    }
  }
}

/** Partitions whose checkpoint may have moved: those with fired windows, plus the batch's own. */
const touched = (fired: ReadonlyArray<Firing<unknown, unknown>>, also?: number): Set<number> => {
  const set = new Set<number>(also === undefined ? [] : [also])
  for (const f of fired) set.add(f.partition)
  return set
}

const futureEventTime = (record: KafkaRecord, eventTime: number, now: number, skewMs: number) =>
  new MalformedRecord({
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    reason: `event time ${isoOrNumber(eventTime)} is more than ${skewMs / 1_000} s ahead of the processing clock ` +
      `(${isoOrNumber(now)}; MAX_FUTURE_SKEW_SECONDS)`
  })

const isoOrNumber = (ms: number): string => {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString()
}
