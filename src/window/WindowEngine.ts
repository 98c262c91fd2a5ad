/**
 * The event-time window engine: pure and deterministic (no I/O, no clock, no Effect), over Kafka-style
 * batches. Its semantics (watermarks, idleness, lateness, safe offsets, checkpoints and replay) are
 * in docs/window-semantics.md. This module only wires the parts: Partitions.ts (per-partition state
 * and the record loop), AlignedWindows.ts and SessionWindows.ts (the kinds of window), Checkpoint.ts.
 */
import type { Aggregator } from "./Aggregator.ts"
import { makeAlignedWindows } from "./AlignedWindows.ts"
import { type Checkpoint, checkpoint, safeOffset } from "./Checkpoint.ts"
import { type AssignOptions, makePartitions } from "./Partitions.ts"
import { makeSessionWindows } from "./SessionWindows.ts"
import { makeWatermarks, type Watermarks } from "./Watermarks.ts"
import type { WindowAssigner } from "./WindowAssigner.ts"
import { makeWindowCounters, type WindowCounters, type Windowing } from "./Windowing.ts"
import type { Firing, LateRecord, ProcessResult, WindowRecord } from "./WindowRecord.ts"

export interface WindowEngineOptions<K, V, Acc, Out> {
  readonly assigner: WindowAssigner
  readonly aggregator: Aggregator<V, Acc, Out>
  readonly outOfOrdernessMs: number
  /** Default 0: a window is purged as soon as it fires. */
  readonly allowedLatenessMs?: number
  /** Default Infinity (never idle). */
  readonly idleTimeoutMs?: number
  /** Default false. Aligned windows only. */
  readonly emitEmptyAfterActivity?: boolean
  /** Key order for output; default compares with `<` (strings, numbers, bigints). */
  readonly compareKeys?: (a: K, b: K) => number
}

export interface WindowEngineStats {
  readonly partitions: number
  /** Open (partition, key, window) states, including pending "empty" markers. */
  readonly openKeyWindows: number
  /** Records folded into open windows (a record counts once per window): approximate state size. */
  readonly recordsInOpenWindows: number
  readonly processed: number
  readonly late: number
  readonly replayed: number
  readonly duplicates: number
  readonly fired: number
}

export interface WindowEngine<K, V, Out> {
  readonly assign: (partition: number, options?: AssignOptions) => void
  readonly revoke: (partition: number) => void
  readonly process: (
    partition: number,
    batch: ReadonlyArray<WindowRecord<K, V>>,
    nowMs: number
  ) => ProcessResult<K, Out, WindowRecord<K, V>>
  readonly onProcessingTime: (nowMs: number) => ProcessResult<K, Out, WindowRecord<K, V>>
  /** Pipeline watermark W (can decrease when a lagging partition joins; windows never un-fire). */
  readonly watermark: () => number
  /** W_p, or undefined if p is not assigned. */
  readonly partitionWatermark: (partition: number) => number | undefined
  /** E_p, the watermark p's windows are judged against. */
  readonly effectiveWatermark: (partition: number) => number | undefined
  /** undefined until p has processed a record. */
  readonly safeOffset: (partition: number) => number | undefined
  readonly checkpoint: (partition: number) => Checkpoint | undefined
  readonly assignedPartitions: () => ReadonlyArray<number>
  readonly stats: () => WindowEngineStats
}

const defaultCompare = (
  a: unknown,
  b: unknown
): number => ((a as any) < (b as any) ? -1 : (a as any) > (b as any) ? 1 : 0)

export const makeWindowEngine = <K, V, Acc, Out>(
  options: WindowEngineOptions<K, V, Acc, Out>
): WindowEngine<K, V, Out> => {
  const { assigner, aggregator } = options
  const L = options.allowedLatenessMs ?? 0
  if (!(L >= 0)) throw new RangeError(`allowedLatenessMs must be >= 0, got ${L}`)
  const emitEmpty = options.emitEmptyAfterActivity === true
  const compareKeys = options.compareKeys ?? defaultCompare
  const watermarks = makeWatermarks({
    outOfOrdernessMs: options.outOfOrdernessMs,
    idleTimeoutMs: options.idleTimeoutMs ?? Infinity
  })
  const counters = makeWindowCounters()
  if (assigner._tag === "Session") {
    const sessions = makeSessionWindows<K, V, Acc, Out>(assigner, aggregator, L, counters)
    return wire(sessions, watermarks, counters, compareKeys)
  }
  const aligned = makeAlignedWindows<K, V, Acc, Out>(assigner, aggregator, L, emitEmpty, counters)
  return wire(aligned, watermarks, counters, compareKeys)
}

// Generic in the kind of window's state, which makeWindowEngine's callers never see.
const wire = <K, V, S, Out>(
  windowing: Windowing<K, V, S, Out>,
  watermarks: Watermarks,
  counters: WindowCounters,
  compareKeys: (a: K, b: K) => number
): WindowEngine<K, V, Out> => {
  const partitions = makePartitions(watermarks, windowing, counters)

  const fireAll = (): Array<Firing<K, Out>> => {
    partitions.advance()
    const out: Array<Firing<K, Out>> = []
    for (const ps of partitions.list()) {
      // A replaying partition's E_p stays at the restore floor: the only windows it could fire are
      // rebuilt ones that were emitted before the restart, complete only at the end of the replay.
      if (ps.replaying) continue
      windowing.fire(ps, out)
    }
    if (out.length > 1) {
      out.sort((a, b) =>
        a.window.end - b.window.end || compareKeys(a.key, b.key) || a.partition - b.partition ||
        a.window.start - b.window.start
      )
    }
    counters.fired += out.length
    return out
  }

  return {
    assign: partitions.assign,
    revoke: partitions.revoke,
    process: (partition, batch, nowMs) => {
      const late: Array<LateRecord<WindowRecord<K, V>>> = []
      partitions.ingest(partition, batch, nowMs, late)
      return { fired: fireAll(), late }
    },
    onProcessingTime: (nowMs) => {
      watermarks.observeTime(nowMs)
      return { fired: fireAll(), late: [] }
    },
    watermark: () => watermarks.watermark(),
    partitionWatermark: (partition) => watermarks.get(partition)?.watermark,
    effectiveWatermark: (partition) => watermarks.get(partition)?.effective,
    safeOffset: (partition) => safeOffset(partitions.find(partition), windowing),
    checkpoint: (partition) => {
      const ps = partitions.find(partition)
      return checkpoint(ps, windowing, ps !== undefined && watermarks.isIdle(ps.clock))
    },
    assignedPartitions: () => partitions.list().map((ps) => ps.id),
    stats: () => ({
      partitions: partitions.list().length,
      openKeyWindows: counters.openKeyWindows,
      recordsInOpenWindows: counters.recordsInOpen,
      processed: counters.processed,
      late: counters.late,
      replayed: counters.replayed,
      duplicates: counters.duplicates,
      fired: counters.fired
    })
  }
}
