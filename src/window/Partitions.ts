/**
 * The window engine's assigned partitions: assignment (with the replay hold after a restart),
 * revocation, watermark advance, and the one record loop that every kind of window goes through.
 * Semantics: docs/window-semantics.md ("Safe offset, checkpoints and replay").
 */
import type { Watermarks } from "./Watermarks.ts"
import type { PartitionState, WindowCounters, Windowing } from "./Windowing.ts"
import type { LateRecord, WindowRecord } from "./WindowRecord.ts"

export interface AssignOptions {
  /** `checkpoint(p).watermark` stored with the committed offset. */
  readonly restoredWatermark?: number
  /** `checkpoint(p).partitionWatermark`: W_p is restored to it once the replay reaches
   * `replayEndOffset`, so the pipeline watermark after the replay is the same as before the restart
   * (default: `restoredWatermark`; ignored without `replayEndOffset`). */
  readonly restoredPartitionWatermark?: number
  /** `checkpoint(p).endOffset` stored with the committed offset. */
  readonly replayEndOffset?: number
  /** Start of the idle timer; default: the next processing time seen. */
  readonly nowMs?: number
}

interface Partitions<K, V, S> {
  readonly assign: (partition: number, options?: AssignOptions) => void
  readonly revoke: (partition: number) => void
  readonly find: (partition: number) => PartitionState<S> | undefined
  /** Replaced, never mutated, by assign and revoke. */
  readonly list: () => ReadonlyArray<PartitionState<S>>
  /** Judges a batch of `partition` and lets its watermark advance with it (windows do not fire yet). */
  readonly ingest: (
    partition: number,
    batch: ReadonlyArray<WindowRecord<K, V>>,
    nowMs: number,
    late: Array<LateRecord<WindowRecord<K, V>>>
  ) => void
  /** Recomputes W and every E_p; what E_p was before stays as `judgedAgainst`. */
  readonly advance: () => void
}

export const makePartitions = <K, V, S, Out>(
  watermarks: Watermarks,
  windowing: Windowing<K, V, S, Out>,
  counters: WindowCounters
): Partitions<K, V, S> => {
  const states = new Map<number, PartitionState<S>>()
  let stateList: Array<PartitionState<S>> = []

  const ingest = (
    partition: number,
    batch: ReadonlyArray<WindowRecord<K, V>>,
    nowMs: number,
    late: Array<LateRecord<WindowRecord<K, V>>>
  ): void => {
    const ps = states.get(partition)
    if (ps === undefined) throw new Error(`WindowEngine: partition ${partition} is not assigned`)
    if (batch.length === 0) {
      watermarks.observeTime(nowMs)
      return
    }
    // A record is judged against E_p as it was before the batch, or against p's own watermark just
    // before the record where that is higher: in offset order, so the verdict depends neither on how
    // the records were fetched into batches nor on how far the other partitions were, and a new owner
    // replaying p after a restart reaches the same verdicts (docs/window-semantics.md, "Lateness").
    let judge = Math.max(ps.clock.effective, ps.clock.watermark)
    const ooo = watermarks.outOfOrdernessMs
    // The part of `judge` that a replay reproduces exactly: p's own records since assignment.
    let own = ps.clock.maxEventTime - ooo
    const replayEnd = ps.replayEnd
    windowing.beginBatch(ps)
    let maxT = -Infinity
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!
      const offset = r.offset
      if (offset <= ps.lastOffset) {
        counters.duplicates++
        continue
      }
      ps.lastOffset = offset
      counters.processed++
      const t = r.eventTime
      const missed = windowing.add(ps, r, judge, offset < replayEnd, own)
      if (t > maxT) {
        maxT = t
        if (t - ooo > judge) judge = t - ooo
        if (t - ooo > own) own = t - ooo
      }
      if (missed !== undefined) {
        counters.late++
        late.push({ partition: ps.id, record: r, missedWindows: missed })
      }
    }
    watermarks.observeRecords(partition, maxT, nowMs)
    // The replay ends after its last batch was judged, so that batch still sees the restored floor.
    if (ps.replaying && ps.lastOffset + 1 >= ps.replayEnd) {
      ps.replaying = false
      watermarks.endReplay(ps.clock)
    }
  }

  return {
    assign: (partition, opts) => {
      if (states.has(partition)) return
      const restored = opts?.restoredWatermark
      const isRestore = restored !== undefined || opts?.restoredPartitionWatermark !== undefined
      const replayEnd = isRestore ? (opts?.replayEndOffset ?? Infinity) : -Infinity
      // Only a replay with a known end is held (and can apply the restored W_p when it ends).
      const replaying = isRestore && replayEnd !== Infinity
      const clock = watermarks.assign(partition, {
        ...(restored !== undefined ? { restoredWatermark: restored } : {}),
        ...(opts?.restoredPartitionWatermark !== undefined && replayEnd !== Infinity
          ? { restoredPartitionWatermark: opts.restoredPartitionWatermark }
          : {}),
        replaying,
        ...(opts?.nowMs !== undefined ? { nowMs: opts.nowMs } : {})
      })
      states.set(partition, {
        id: partition,
        clock,
        lastOffset: -1,
        judgedAgainst: clock.effective,
        replayFloor: restored ?? -Infinity,
        replayEnd,
        replaying,
        windows: windowing.makeState()
      })
      stateList = [...states.values()]
    },
    revoke: (partition) => {
      const ps = states.get(partition)
      if (ps === undefined) return
      windowing.drop(ps)
      states.delete(partition)
      stateList = [...states.values()]
      watermarks.revoke(partition)
    },
    find: (partition) => states.get(partition),
    list: () => stateList,
    ingest,
    advance: () => {
      for (const ps of stateList) ps.judgedAgainst = ps.clock.effective
      watermarks.advance()
    }
  }
}
