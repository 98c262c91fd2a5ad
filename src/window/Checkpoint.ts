/**
 * What the pipeline commits for a partition so that the next owner can rebuild its windows from Kafka
 * alone. Why the safe offset and E_p are enough: docs/window-semantics.md ("Safe offset, checkpoints
 * and replay").
 */
import type { PartitionState, Windowing } from "./Windowing.ts"

export interface Checkpoint {
  /** Offset to commit (the safe offset): the next owner resumes here. */
  readonly offset: number
  /** Watermark to store in the commit metadata (`E_p`), for `restoredWatermark`. */
  readonly watermark: number
  /** W_p, for `restoredPartitionWatermark`. */
  readonly partitionWatermark: number
  /** Last processed offset + 1 (during a replay: at least the replay's end), for `replayEndOffset`. */
  readonly endOffset: number
  /**
   * The partition was idle (not holding the pipeline watermark back). A new owner that finds nothing
   * new to read restores it idle, as it was, instead of letting it hold the watermark for the timeout.
   */
  readonly idle: boolean
}

/** The lowest offset a kept window still needs; undefined until the partition processed a record. */
export const safeOffset = <K, V, S, Out>(
  ps: PartitionState<S> | undefined,
  windowing: Windowing<K, V, S, Out>
): number | undefined => ps === undefined || ps.lastOffset < 0 ? undefined : windowing.minOffset(ps, ps.lastOffset + 1)

export const checkpoint = <K, V, S, Out>(
  ps: PartitionState<S> | undefined,
  windowing: Windowing<K, V, S, Out>,
  idle: boolean
): Checkpoint | undefined => {
  const offset = safeOffset(ps, windowing)
  if (ps === undefined || offset === undefined) return undefined
  const clock = ps.clock
  // During a replay, what the restart knew is still owed: the restored W_p and replay end (a
  // second restart must not take the rest of the first replay for new records).
  return ps.replaying
    ? {
      offset,
      watermark: clock.effective,
      partitionWatermark: Math.max(clock.watermark, clock.deferredWatermark),
      endOffset: Math.max(ps.lastOffset + 1, ps.replayEnd),
      idle
    }
    : { offset, watermark: clock.effective, partitionWatermark: clock.watermark, endOffset: ps.lastOffset + 1, idle }
}
