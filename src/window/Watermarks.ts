/**
 * Event-time watermarks for a set of assigned Kafka partitions.
 *
 * - Partition watermark `W_p` = max event time seen on p − outOfOrdernessMs (or the restored
 *   watermark after a restart, whichever is larger). It never decreases.
 * - Pipeline watermark `W` = min of `W_p` over ACTIVE partitions. A partition is idle when it has
 *   received no records for more than `idleTimeoutMs` of processing time; idle partitions stop holding
 *   `W` back, and become active again with their next record. When every partition is idle, `W` is
 *   the max of all `W_p` (so the last windows of a quiet stream still close). The first record after
 *   such a pause restarts every partition's idle timer: the others get one idle timeout to show
 *   their records of the same moment before this partition's watermark alone decides.
 * - `W` itself can go DOWN (an idle partition wakes up, a lagging partition is assigned). Firing and
 *   purging must never be undone, so each partition also has an effective watermark
 *   `E_p = max over time of W since p was assigned` (starting at the restored watermark). Window
 *   decisions for p's state use `E_p`, which is monotonic.
 * - Replay after a restart (`assign` with `replaying: true`): until `endReplay(p)`, `E_p` is held at
 *   the restored watermark (`cap`), however far `W` gets (other partitions, idleness), and `W_p` is
 *   the restored watermark raised by the replayed records only; the restored partition watermark
 *   (`restoredPartitionWatermark`) is applied by `endReplay`. See docs/window-semantics.md.
 *
 * Processing time is always passed in (`nowMs`); nothing here reads a clock, so it is deterministic.
 * A freshly assigned partition starts its idle timer at the first processing time observed after
 * assignment (or at `nowMs` if given to `assign`).
 */

export interface WatermarksOptions {
  readonly outOfOrdernessMs: number
  /** `Infinity` disables idleness (an empty partition then holds the watermark back forever). */
  readonly idleTimeoutMs: number
}

export interface PartitionClock {
  readonly partition: number
  maxEventTime: number
  /** W_p */
  watermark: number
  /** E_p: monotonic watermark that p's windows have been judged against. */
  effective: number
  /** Upper bound of E_p: the restored watermark while p replays, Infinity otherwise. */
  cap: number
  /** Restored W_p waiting for the end of the replay (-Infinity when none). */
  deferredWatermark: number
  /** Processing time of the last non-empty batch, or undefined until the first time observation. */
  lastActivity: number | undefined
}

export interface Watermarks {
  readonly outOfOrdernessMs: number
  readonly assign: (
    partition: number,
    options?: {
      /** Initial E_p (and lower bound of W_p). */
      readonly restoredWatermark?: number
      /** W_p before the restart, if known (>= restoredWatermark). */
      readonly restoredPartitionWatermark?: number
      /** p replays records judged before the restart: hold E_p at `restoredWatermark` and apply
       * `restoredPartitionWatermark` only at `endReplay` (default false: applied at once). */
      readonly replaying?: boolean
      readonly nowMs?: number
    }
  ) => PartitionClock
  /** p's replay is complete: lift the cap on E_p and apply the restored W_p. */
  readonly endReplay: (clock: PartitionClock) => void
  readonly revoke: (partition: number) => void
  readonly get: (partition: number) => PartitionClock | undefined
  readonly partitions: () => ReadonlyArray<PartitionClock>
  /** Record that p received records up to `maxEventTime` at processing time `nowMs`. */
  readonly observeRecords: (partition: number, maxEventTime: number, nowMs: number) => void
  /** Advance processing time (monotonic: earlier values are ignored). */
  readonly observeTime: (nowMs: number) => void
  readonly now: () => number
  readonly isIdle: (p: PartitionClock) => boolean
  /** Recompute W and raise every E_p to it; returns W. */
  readonly advance: () => number
  /** Current pipeline watermark W (as of the last `advance`). */
  readonly watermark: () => number
}

export const makeWatermarks = (options: WatermarksOptions): Watermarks => {
  const { outOfOrdernessMs, idleTimeoutMs } = options
  if (!(outOfOrdernessMs >= 0)) throw new RangeError(`outOfOrdernessMs must be >= 0, got ${outOfOrdernessMs}`)
  if (!(idleTimeoutMs >= 0)) throw new RangeError(`idleTimeoutMs must be >= 0, got ${idleTimeoutMs}`)
  const clocks = new Map<number, PartitionClock>()
  let list: Array<PartitionClock> = []
  let now = -Infinity
  let pipeline = -Infinity

  const observeTime = (nowMs: number): void => {
    if (nowMs > now) now = nowMs
    for (const c of list) if (c.lastActivity === undefined) c.lastActivity = now
  }

  const isIdle = (c: PartitionClock): boolean => c.lastActivity !== undefined && now - c.lastActivity > idleTimeoutMs

  const advance = (): number => {
    let minActive = Infinity
    let maxAll = -Infinity
    let anyActive = false
    for (const c of list) {
      if (c.watermark > maxAll) maxAll = c.watermark
      if (!isIdle(c)) {
        anyActive = true
        if (c.watermark < minActive) minActive = c.watermark
      }
    }
    if (list.length > 0) pipeline = anyActive ? minActive : maxAll
    for (const c of list) {
      const e = pipeline < c.cap ? pipeline : c.cap
      if (e > c.effective) c.effective = e
    }
    return pipeline
  }

  return {
    outOfOrdernessMs,
    assign: (partition, opts) => {
      const existing = clocks.get(partition)
      if (existing !== undefined) return existing
      const restored = opts?.restoredWatermark ?? -Infinity
      const partitionWatermark = Math.max(restored, opts?.restoredPartitionWatermark ?? -Infinity)
      const replaying = opts?.replaying === true
      const c: PartitionClock = {
        partition,
        maxEventTime: -Infinity,
        watermark: replaying ? restored : partitionWatermark,
        effective: restored,
        cap: replaying ? restored : Infinity,
        deferredWatermark: replaying ? partitionWatermark : -Infinity,
        lastActivity: opts?.nowMs ?? (now === -Infinity ? undefined : now)
      }
      clocks.set(partition, c)
      list = [...clocks.values()]
      return c
    },
    endReplay: (c) => {
      c.cap = Infinity
      if (c.deferredWatermark > c.watermark) c.watermark = c.deferredWatermark
      c.deferredWatermark = -Infinity
    },
    revoke: (partition) => {
      if (clocks.delete(partition)) list = [...clocks.values()]
    },
    get: (partition) => clocks.get(partition),
    partitions: () => list,
    observeRecords: (partition, maxEventTime, nowMs) => {
      observeTime(nowMs)
      const c = clocks.get(partition)
      if (c === undefined) return
      // The stream resumes after every partition went quiet (an upstream pause, a broker outage): the
      // other partitions' records from the same moment may be a fetch behind this one. Each gets a
      // fresh idle timeout to show them, instead of this partition's watermark alone making them late.
      if (isIdle(c) && list.every(isIdle)) { for (const q of list) q.lastActivity = now }
      else c.lastActivity = now
      if (maxEventTime > c.maxEventTime) {
        c.maxEventTime = maxEventTime
        const w = maxEventTime - outOfOrdernessMs
        if (w > c.watermark) c.watermark = w
      }
    },
    observeTime,
    now: () => now,
    isIdle,
    advance,
    watermark: () => pipeline
  }
}
