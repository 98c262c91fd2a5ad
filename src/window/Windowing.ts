/**
 * The contract between the window engine's per-partition bookkeeping (Partitions.ts) and a kind of
 * window (AlignedWindows.ts, SessionWindows.ts), plus the counters behind `stats()` that all of them
 * update. Semantics: docs/window-semantics.md.
 */
import type { PartitionClock } from "./Watermarks.ts"
import type { Window } from "./WindowAssigner.ts"
import type { Firing, WindowRecord } from "./WindowRecord.ts"

/** One assigned partition, with the state of its windows (`S`, owned by the kind of window). */
export interface PartitionState<S> {
  readonly id: number
  readonly clock: PartitionClock
  lastOffset: number
  /** E_p before the current call: records of this call were judged against it. */
  judgedAgainst: number
  /** The restored watermark (-Infinity without a restore). */
  readonly replayFloor: number
  /** Offsets below it are replayed: -Infinity without a restore, Infinity when its end is unknown. */
  readonly replayEnd: number
  /** Still replaying (next offset < replayEnd): E_p held at replayFloor, firing deferred. */
  replaying: boolean
  readonly windows: S
}

/** Mutable totals, shared rather than returned so that the per-record path allocates nothing. */
export interface WindowCounters {
  /** Open (partition, key, window) states, including pending "empty" markers. */
  openKeyWindows: number
  /** Records folded into open windows (a record counts once per window). */
  recordsInOpen: number
  processed: number
  late: number
  replayed: number
  duplicates: number
  fired: number
}

export const makeWindowCounters = (): WindowCounters => ({
  openKeyWindows: 0,
  recordsInOpen: 0,
  processed: 0,
  late: 0,
  replayed: 0,
  duplicates: 0,
  fired: 0
})

export interface Windowing<K, V, S, Out> {
  readonly makeState: () => S
  /** A batch of `ps` starts: per-batch caches must not carry over from another partition. */
  readonly beginBatch: (ps: PartitionState<S>) => void
  /**
   * Folds a new record into its windows: it is late for a window with `end + L <= judge` (the higher
   * of E_p before the batch and p's watermark just before the record); `replay` when its offset is
   * below the partition's replay end; `own` = p's watermark just before the record from the records
   * processed since assignment alone (no restored floor). Returns the windows it missed if it was
   * late for any.
   */
  readonly add: (
    ps: PartitionState<S>,
    record: WindowRecord<K, V>,
    judge: number,
    replay: boolean,
    own: number
  ) => ReadonlyArray<Window> | undefined
  /** Emits what E_p has made due, then purges the windows past their allowed lateness. */
  readonly fire: (ps: PartitionState<S>, out: Array<Firing<K, Out>>) => void
  /** Lowest offset a kept window still needs, or `bound` if none needs a lower one. */
  readonly minOffset: (ps: PartitionState<S>, bound: number) => number
  /** The partition is revoked: its windows leave the counters. */
  readonly drop: (ps: PartitionState<S>) => void
}
