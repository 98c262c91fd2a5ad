/**
 * WindowEngine: a pure, deterministic event-time window engine over Kafka-style batches.
 *
 * No I/O, no clock, no Effect: the caller passes batches and processing time, and gets back the
 * window firings and late records. Same inputs (same batches, same `nowMs`) => same outputs.
 *
 * ## Semantics
 *
 * State is per (partition, key, window): input topics are keyed by the aggregation key, so a key
 * lives in one partition, and revoking a partition simply drops its state.
 *
 * Watermarks (see Watermarks.ts): `W_p` = max event time on p − outOfOrdernessMs; pipeline `W` = min
 * over active partitions (idle > idleTimeoutMs of processing time ⇒ ignored); per partition the
 * effective watermark `E_p` = the highest `W` seen since assignment, which never goes back (while p
 * replays after a restart, E_p is held at the restored watermark: see "While p replays").
 *
 * Per `process(p, batch, nowMs)` call:
 *   1. Every record is judged against `E_p` as it was BEFORE the batch (so a batch is one unit:
 *      its order inside the batch does not matter for lateness).
 *      For each window w of the record:
 *        - `w.end + allowedLateness <= E_p`: w has been purged. The record is LATE for w.
 *        - otherwise the record is added to (p, key, w), creating it if needed.
 *      A record that missed at least one window goes to `late` exactly once, with all the windows it
 *      missed (`missedWindows`); it still counts in its windows that were open.
 *   2. Then `W_p` advances with the batch, `W` and every `E_q` are recomputed, and windows fire:
 *        - "final": the first emission of a key-window, when `E_p >= w.end`.
 *        - "update": a later emission, when a kept window (`E_p < w.end + allowedLateness`) received
 *          records after it was emitted. Several records in one batch give ONE update.
 *        - "empty": see `emitEmptyAfterActivity`.
 *      A key-window is purged (state dropped) once `E_p >= w.end + allowedLateness`.
 *   Output `fired` is sorted by window end, then key (then partition, window start).
 * `onProcessingTime(nowMs)` does step 2 only: idle partitions may stop holding `W` back.
 *
 * ## emitEmptyAfterActivity (aligned windows only)
 * For a key k and an aligned window w with predecessor `w − slide`: when the predecessor has (on-time)
 * records for k and w has none, w fires exactly once with kind "empty" and `aggregator.result(empty())`
 * once `E_p >= w.end`. So an online feature such as "transactions in the last 10 min" goes back to
 * 0 once after the key's activity stops, and then the key is forgotten (no state). If records for w
 * arrive later (within lateness) w fires "update" as usual.
 *
 * ## Safe offset, checkpoints and replay (how we are correct with only Kafka offsets as state)
 * `safeOffset(p)` is the lowest offset still needed by a kept window of p (or last processed + 1).
 * After the fired results of a call are acknowledged by the sinks, the pipeline commits
 * `checkpoint(p)`: `offset` (the safe offset) as the Kafka offset, and `watermark` (E_p),
 * `partitionWatermark` (W_p) and `endOffset` (last processed + 1) in the commit metadata.
 * `E_p` — not the partition's own `W_p` — is the restore floor because it is exactly the watermark
 * p's windows were purged against:
 *   - every window with `end + lateness <= E_p` was already emitted and purged, and
 *   - every window with `end + lateness > E_p` is still kept, so ALL its records are at offsets
 *     >= safe offset.
 * After a crash or a rebalance the new owner calls `assign(p, { restoredWatermark: watermark,
 * restoredPartitionWatermark: partitionWatermark, replayEndOffset: endOffset })` and consumes from
 * the committed offset. A replayed record (offset < replayEndOffset) is skipped for each window with
 * `end + lateness <= restoredWatermark` — it was already emitted, or reported late, before the
 * restart — and counted as `replayed`, neither re-emitted nor late. Kept windows are rebuilt
 * completely by the replay and fire with the same results (sinks upsert by key + window start, so a
 * re-emission is harmless). Records from `replayEndOffset` on follow the normal rules, so a late
 * record is reported exactly once across the restart.
 *
 * ### While p replays (from assignment until a record at offset >= replayEndOffset − 1 is processed)
 * Invariant R: every replayed record of p is judged against exactly `restoredWatermark` (w_p), so it
 * is added to exactly the kept windows, as before the restart. Before the crash it was judged
 * against some E_p <= w_p, and the windows on which those two watermarks disagree (end + lateness in
 * (its E_p, w_p]) are exactly the skipped, already emitted ones. Holding `W_p` back is NOT enough for
 * R: the pipeline watermark W = min over ACTIVE partitions, and it rises while p replays when
 *   - other partitions finish their (shorter) replays and read new records: with their restored W_q
 *     and p's own restored W_p applied at once, W = min_q pw_q could exceed w_p immediately (the bug
 *     the card-aggregates SIGKILL test hit: checkpoints are committed per partition at different
 *     times, so w_p can be far below every pw_q);
 *   - p's replayed records raise W_p above w_p while the others are ahead (W_p before the crash was
 *     higher still, but E_p lagged behind it); or
 *   - p is idle (its fetch is slow) and stops holding W back at all.
 * Hence, while p replays:
 *   1. E_p is held at w_p (`PartitionClock.cap`): `advance` raises E_p to min(W, w_p) only.
 *   2. W_p = max(w_p, highest replayed event time − outOfOrdernessMs); the restored W_p is applied
 *      when the replay ends. So W never runs ahead on the strength of p's records not replayed yet
 *      (W_p <= pw_p throughout), and 1. covers the cases where W rises anyway.
 *      Cost: until every partition has replayed, W may be lower than before the crash (windows of
 *      the other partitions fire a bit later; their new records are judged more leniently).
 *      No partition is stuck by this: a partition with nothing to replay (safe offset = endOffset)
 *      has no kept window, so every record it processed had a window with end + lateness <= w_p,
 *      i.e. pw_p < w_p: deferring pw_p changes nothing for it, and its first record ends the hold.
 *   3. p fires nothing: with E_p = w_p the only windows it could fire are rebuilt ones with
 *      end <= w_p < end + lateness, already emitted before the crash and complete only at the end of
 *      the replay (firing them per replayed batch would write INCOMPLETE rows over good ones).
 * When the replay ends (in `process`, after the batch was judged) the cap goes, W_p becomes
 * max(W_p, restored W_p), and the same call's `advance` raises E_p to W and fires what is due.
 * A batch that straddles `replayEndOffset` is judged entirely against w_p (more lenient for its new
 * records, never stricter). `checkpoint(p)` during a replay keeps what the restart knew:
 * `endOffset` >= replayEndOffset and `partitionWatermark` >= the restored one (a second crash
 * mid-replay must not take the rest of the first replay for new records).
 * Without `replayEndOffset` the end of the replay is unknown: nothing is held, the restored W_p is
 * ignored (W_p restarts at w_p), and every record whose windows are all at or below the restored
 * watermark is treated as replayed (late records right after a restart would then go unreported).
 * A pending "empty" firing holds the safe offset at a record of its predecessor window, and a
 * replayed record re-creates the marker for the window after each skipped window.
 *
 * Tested by the replay properties in test/window/WindowEngine.test.ts, including several partitions
 * whose checkpoints were taken at different steps, restarted together and replayed interleaved.
 *
 * Limitations (tested and documented): idleness depends on processing time, which a restart does not
 * reproduce, so with idle partitions the watermark after a restart may differ; after a restart a key
 * whose predecessor window held only LATE records may get one extra "empty" firing (the replay
 * cannot tell late records from on-time ones); sessions are rebuilt exactly unless a session was
 * re-opened over an already purged one, or a late record overlaps a later session.
 *
 * ## State size of sliding windows, and pane-based sharing (not implemented)
 * Each (partition, key, window) is one KeyWindow (+ its Map entry), about 172 bytes with a small
 * accumulator, and a record of a sliding window is added to size/slide of them: a card with one
 * transaction in the last 10 minutes costs 10 KeyWindows at 10 min / 1 min, and every record costs
 * size/slide `add` calls. Pane-based sharing would cut both: split time into panes of
 * g = gcd(size, slide) (= slide when slide divides size), keep ONE accumulator per (key, pane) that
 * has records, and compute a window's result when it fires as `merge` over its size/g panes (every
 * Aggregator has `merge`; Welford moments merge with Chan's formula). Then a record is one `add`, and a key
 * costs one small pane per slide interval in which it had records and which a kept window still
 * covers (pane end + size − g + lateness > E_p), instead of size/slide windows per record — 10× less
 * for sparse keys such as cards, about equal for keys with records in every pane. What changes:
 *   - firing: window w of key k fires when E_p >= w.end, for every key with a pane in w: iterate
 *     keys by pane instead of by window slice; result = merge of fresh copies (merge may mutate its
 *     first argument), O(size/g) per firing (a two-stack sliding aggregate would make it O(1)
 *     amortized, not needed at 10 panes);
 *   - lateness: a record in pane P missed the windows containing P with end + lateness <= E_p
 *     (listed as today); if some window containing P is still kept it is added to P, and the kept
 *     windows containing P that were already emitted fire "update";
 *   - safe offset: min offset of the panes still covered by a kept window (same rule per pane);
 *   - "empty" after activity: the window after the last window containing one of k's panes, i.e.
 *     the window starting at lastPane.start + g when it holds no pane of k (no marker objects);
 *   - replay: unchanged (skip per window below the restore floor, add to the pane otherwise).
 *
 * Offsets are JS numbers (safe integers; Kafka offsets stay far below 2^53): comparing numbers in
 * the hot loop is much cheaper than bigint. Offsets must increase within a partition; a record
 * with an offset <= the last processed one is ignored as a duplicate delivery.
 *
 * Session windows: a record opens [t, t + gap) and merges with overlapping sessions of its key.
 * It is late if it merges with no kept session and `t + gap + lateness <= E_p`. A merged session
 * that contains an already emitted one fires as "update". On replay, session records are always
 * re-added (a session's first record can have a window long before the watermark) and rebuilt
 * sessions ending at or before the restored watermark are dropped silently.
 */
import type { Aggregator } from "./Aggregator.ts"
import { makeMinHeap, type MinHeap } from "./MinHeap.ts"
import { makeWatermarks, type PartitionClock } from "./Watermarks.ts"
import type { Window, WindowAssigner } from "./WindowAssigner.ts"

export interface WindowRecord<K, V> {
  /** Kafka offset as a safe integer number. */
  readonly offset: number
  /** Event time, epoch ms. */
  readonly eventTime: number
  readonly key: K
  readonly value: V
}

export type FiringKind = "final" | "update" | "empty"

export interface Firing<K, Out> {
  readonly partition: number
  readonly key: K
  readonly window: Window
  readonly result: Out
  readonly kind: FiringKind
}

export interface LateRecord<R> {
  readonly partition: number
  readonly record: R
  readonly missedWindows: ReadonlyArray<Window>
}

export interface ProcessResult<K, Out, R> {
  readonly fired: Array<Firing<K, Out>>
  readonly late: Array<LateRecord<R>>
}

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

export interface Checkpoint {
  /** Offset to commit (the safe offset): the next owner resumes here. */
  readonly offset: number
  /** Watermark to store in the commit metadata (`E_p`), for `restoredWatermark`. */
  readonly watermark: number
  /** W_p, for `restoredPartitionWatermark`. */
  readonly partitionWatermark: number
  /** Last processed offset + 1 (during a replay: at least the replay's end), for `replayEndOffset`. */
  readonly endOffset: number
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

// ---------------------------------------------------------------------------------------------
// Internal state

interface KeyWindow<K, Acc> {
  readonly key: K
  readonly slice: Slice<K, Acc>
  acc: Acc
  count: number
  /** Highest offset added; a successor "empty" marker holds the safe offset here. */
  maxOffset: number
  /** Needs an emission (new records, or an unemitted "empty" marker). */
  dirty: boolean
  emitted: boolean
}

// All keys' state for one aligned window of one partition: fired and purged as a unit.
interface Slice<K, Acc> {
  readonly start: number
  readonly end: number
  readonly byKey: Map<K, KeyWindow<K, Acc>>
  /** The watermark has passed `end`: new records go through the `pending` list. */
  fired: boolean
  minOffset: number
  records: number
}

interface SessionWindow<K, Acc> {
  readonly key: K
  start: number
  end: number
  acc: Acc
  count: number
  minOffset: number
  dirty: boolean
  everEmitted: boolean
  alive: boolean
  fireQueued: boolean
  purgeQueued: boolean
}

interface PartitionState<K, Acc> {
  readonly id: number
  readonly clock: PartitionClock
  lastOffset: number
  /** E_p before the current call: records of this call were judged against it. */
  judgedAgainst: number
  replayFloor: number
  replayEnd: number
  /** Still replaying (next offset < replayEnd): E_p held at replayFloor, firing deferred. */
  replaying: boolean
  // aligned
  readonly slices: Map<number, Slice<K, Acc>>
  readonly order: Array<Slice<K, Acc>>
  readonly pending: Array<KeyWindow<K, Acc>>
  // sessions
  readonly sessions: Map<K, Array<SessionWindow<K, Acc>>>
  readonly fireHeap: MinHeap<SessionWindow<K, Acc>>
  readonly purgeHeap: MinHeap<SessionWindow<K, Acc>>
}

const defaultCompare = (
  a: unknown,
  b: unknown
): number => ((a as any) < (b as any) ? -1 : (a as any) > (b as any) ? 1 : 0)

export const makeWindowEngine = <K, V, Acc, Out>(
  options: WindowEngineOptions<K, V, Acc, Out>
): WindowEngine<K, V, Out> => {
  const { assigner, aggregator: agg } = options
  const L = options.allowedLatenessMs ?? 0
  if (!(L >= 0)) throw new RangeError(`allowedLatenessMs must be >= 0, got ${L}`)
  const emitEmpty = options.emitEmptyAfterActivity === true && assigner._tag === "Aligned"
  const compareKeys = options.compareKeys ?? defaultCompare
  const watermarks = makeWatermarks({
    outOfOrdernessMs: options.outOfOrdernessMs,
    idleTimeoutMs: options.idleTimeoutMs ?? Infinity
  })
  const isSession = assigner._tag === "Session"
  const size = assigner._tag === "Aligned" ? assigner.sizeMs : 0
  const slide = assigner._tag === "Aligned" ? assigner.slideMs : 0
  const gap = assigner._tag === "Session" ? assigner.gapMs : 0

  const states = new Map<number, PartitionState<K, Acc>>()
  let stateList: Array<PartitionState<K, Acc>> = []
  let openKeyWindows = 0
  let recordsInOpen = 0
  let processed = 0
  let lateCount = 0
  let replayed = 0
  let duplicates = 0
  let firedCount = 0

  const getState = (partition: number): PartitionState<K, Acc> => {
    const ps = states.get(partition)
    if (ps === undefined) throw new Error(`WindowEngine: partition ${partition} is not assigned`)
    return ps
  }

  // --- aligned windows ------------------------------------------------------------------------

  const getOrCreateSlice = (ps: PartitionState<K, Acc>, start: number, E: number): Slice<K, Acc> => {
    let slice = ps.slices.get(start)
    if (slice !== undefined) return slice
    const end = start + size
    // A slice created after the watermark passed its end (late record within lateness, or a replay
    // after restart) is "already fired": its key-windows are emitted through `pending`.
    slice = { start, end, byKey: new Map(), fired: end <= E, minOffset: Infinity, records: 0 }
    ps.slices.set(start, slice)
    const order = ps.order
    let lo = 0
    let hi = order.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (order[mid]!.start < start) lo = mid + 1
      else hi = mid
    }
    order.splice(lo, 0, slice)
    return slice
  }

  // "empty" marker for `key` in the window starting at `start`, unless that key-window exists or
  // was purged before this call (`purgedBelow` = E_p before the batch; a window purged by THIS
  // call's watermark still gets its marker, fired just before the purge).
  const ensureEmptyMarker = (
    ps: PartitionState<K, Acc>,
    start: number,
    key: K,
    holdOffset: number,
    purgedBelow: number
  ): void => {
    if (start + size + L <= purgedBelow) return
    const slice = getOrCreateSlice(ps, start, ps.clock.effective)
    if (slice.byKey.has(key)) return
    const kw: KeyWindow<K, Acc> = {
      key,
      slice,
      acc: agg.empty(),
      count: 0,
      maxOffset: holdOffset,
      dirty: true,
      emitted: false
    }
    slice.byKey.set(key, kw)
    openKeyWindows++
    if (holdOffset < slice.minOffset) slice.minOffset = holdOffset
    if (slice.fired) ps.pending.push(kw)
  }

  const processAligned = (
    ps: PartitionState<K, Acc>,
    batch: ReadonlyArray<WindowRecord<K, V>>,
    late: Array<LateRecord<WindowRecord<K, V>>>
  ): number => {
    const E = ps.clock.effective
    const floor = ps.replayFloor
    const replayEnd = ps.replayEnd
    const offsetMs = assigner._tag === "Aligned" ? assigner.offsetMs : 0
    let maxT = -Infinity
    let lastSlice: Slice<K, Acc> | undefined
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!
      const offset = r.offset
      if (offset <= ps.lastOffset) {
        duplicates++
        continue
      }
      ps.lastOffset = offset
      processed++
      const t = r.eventTime
      if (t > maxT) maxT = t
      const key = r.key
      const replaying = offset < replayEnd
      let missed: Array<Window> | undefined
      let added = false
      const first = Math.floor((t - offsetMs) / slide) * slide + offsetMs
      for (let s = first; s > t - size; s -= slide) {
        const end = s + size
        if (end + L <= E) {
          if (replaying && end + L <= floor) {
            // Already emitted before the restart. Re-create a pending "empty" marker (no-op if the
            // successor window exists or is gone too).
            if (emitEmpty) ensureEmptyMarker(ps, s + slide, key, offset, E)
          } else {
            ;(missed ??= []).push({ start: s, end })
          }
          continue
        }
        let slice = lastSlice
        if (slice === undefined || slice.start !== s) {
          slice = getOrCreateSlice(ps, s, E)
          lastSlice = slice
        }
        let kw = slice.byKey.get(key)
        if (kw === undefined) {
          kw = { key, slice, acc: agg.empty(), count: 0, maxOffset: offset, dirty: false, emitted: false }
          slice.byKey.set(key, kw)
          openKeyWindows++
          if (offset < slice.minOffset) slice.minOffset = offset
        }
        kw.acc = agg.add(kw.acc, r.value)
        kw.count++
        kw.maxOffset = offset
        slice.records++
        recordsInOpen++
        added = true
        if (!kw.dirty) {
          kw.dirty = true
          if (slice.fired) ps.pending.push(kw)
        }
      }
      if (missed !== undefined) {
        lateCount++
        late.push({ partition: ps.id, record: r, missedWindows: missed })
      } else if (!added) {
        replayed++
      }
    }
    return maxT
  }

  const fireKeyWindow = (ps: PartitionState<K, Acc>, kw: KeyWindow<K, Acc>, out: Array<Firing<K, Out>>): void => {
    const slice = kw.slice
    const kind: FiringKind = kw.emitted ? "update" : kw.count === 0 ? "empty" : "final"
    out.push({
      partition: ps.id,
      key: kw.key,
      window: { start: slice.start, end: slice.end },
      result: agg.result(kw.acc),
      kind
    })
    kw.dirty = false
    kw.emitted = true
    if (emitEmpty && kw.count > 0) ensureEmptyMarker(ps, slice.start + slide, kw.key, kw.maxOffset, ps.judgedAgainst)
  }

  const fireAligned = (ps: PartitionState<K, Acc>, out: Array<Firing<K, Out>>): void => {
    const E = ps.clock.effective
    const order = ps.order
    // Slices crossing the watermark now, in end order. Markers created while firing go to later
    // slices (start + slide), which this loop still reaches.
    for (let i = 0; i < order.length; i++) {
      const slice = order[i]!
      if (slice.end > E) break
      if (slice.fired) continue
      slice.fired = true
      for (const kw of slice.byKey.values()) if (kw.dirty) fireKeyWindow(ps, kw, out)
    }
    // Key-windows of already fired slices that changed (updates, late-created windows, markers).
    const pending = ps.pending
    for (let i = 0; i < pending.length; i++) {
      const kw = pending[i]!
      if (kw.dirty) fireKeyWindow(ps, kw, out)
    }
    pending.length = 0
    // Purge windows past their allowed lateness.
    let k = 0
    while (k < order.length && order[k]!.end + L <= E) {
      const slice = order[k]!
      ps.slices.delete(slice.start)
      openKeyWindows -= slice.byKey.size
      recordsInOpen -= slice.records
      k++
    }
    if (k > 0) order.splice(0, k)
  }

  // --- session windows ------------------------------------------------------------------------

  const queueFire = (ps: PartitionState<K, Acc>, s: SessionWindow<K, Acc>): void => {
    if (!s.fireQueued) {
      s.fireQueued = true
      ps.fireHeap.push(s.end, s)
    }
  }

  const processSessions = (
    ps: PartitionState<K, Acc>,
    batch: ReadonlyArray<WindowRecord<K, V>>,
    late: Array<LateRecord<WindowRecord<K, V>>>
  ): number => {
    const E = ps.clock.effective
    const replayEnd = ps.replayEnd
    let maxT = -Infinity
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!
      const offset = r.offset
      if (offset <= ps.lastOffset) {
        duplicates++
        continue
      }
      ps.lastOffset = offset
      processed++
      const t = r.eventTime
      if (t > maxT) maxT = t
      const cs = t
      const ce = t + gap
      let list = ps.sessions.get(r.key)
      let target: SessionWindow<K, Acc> | undefined
      if (list !== undefined) {
        let w = 0
        for (let j = 0; j < list.length; j++) {
          const s = list[j]!
          if (s.start < ce && cs < s.end) {
            if (target === undefined) {
              target = s
            } else {
              // The record bridges two sessions: merge s into target.
              target.acc = agg.merge(target.acc, s.acc)
              target.count += s.count
              if (s.start < target.start) target.start = s.start
              if (s.end > target.end) target.end = s.end
              if (s.minOffset < target.minOffset) target.minOffset = s.minOffset
              target.everEmitted ||= s.everEmitted
              s.alive = false
              openKeyWindows--
              continue
            }
          }
          list[w++] = s
        }
        list.length = w
      }
      if (target === undefined) {
        // Replayed records are never late for sessions (see the header comment).
        if (ce + L <= E && offset >= replayEnd) {
          lateCount++
          late.push({ partition: ps.id, record: r, missedWindows: [{ start: cs, end: ce }] })
          continue
        }
        target = {
          key: r.key,
          start: cs,
          end: ce,
          acc: agg.empty(),
          count: 0,
          minOffset: offset,
          dirty: false,
          everEmitted: false,
          alive: true,
          fireQueued: false,
          purgeQueued: false
        }
        if (list === undefined) {
          list = []
          ps.sessions.set(r.key, list)
        }
        list.push(target)
        openKeyWindows++
      } else {
        if (cs < target.start) target.start = cs
        if (ce > target.end) target.end = ce
      }
      target.acc = agg.add(target.acc, r.value)
      target.count++
      recordsInOpen++
      target.dirty = true
      queueFire(ps, target)
    }
    return maxT
  }

  const removeSession = (ps: PartitionState<K, Acc>, s: SessionWindow<K, Acc>): void => {
    s.alive = false
    openKeyWindows--
    recordsInOpen -= s.count
    const list = ps.sessions.get(s.key)
    if (list === undefined) return
    const i = list.indexOf(s)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) ps.sessions.delete(s.key)
  }

  const fireSessions = (ps: PartitionState<K, Acc>, out: Array<Firing<K, Out>>): void => {
    const E = ps.clock.effective
    const fireHeap = ps.fireHeap
    while (fireHeap.size() > 0 && fireHeap.peekPriority() <= E) {
      const s = fireHeap.pop()!
      s.fireQueued = false
      if (!s.alive || !s.dirty) continue
      if (s.end > E) {
        queueFire(ps, s) // the session grew since it was queued
        continue
      }
      s.dirty = false
      if (s.end + L <= ps.replayFloor && s.minOffset < ps.replayEnd) {
        replayed += s.count // rebuilt from a replay, already emitted before the restart
      } else {
        out.push({
          partition: ps.id,
          key: s.key,
          window: { start: s.start, end: s.end },
          result: agg.result(s.acc),
          kind: s.everEmitted ? "update" : "final"
        })
        s.everEmitted = true
      }
      if (!s.purgeQueued) {
        s.purgeQueued = true
        ps.purgeHeap.push(s.end + L, s)
      }
    }
    const purgeHeap = ps.purgeHeap
    while (purgeHeap.size() > 0 && purgeHeap.peekPriority() <= E) {
      const s = purgeHeap.pop()!
      s.purgeQueued = false
      if (!s.alive) continue
      if (s.end + L > E) {
        s.purgeQueued = true
        purgeHeap.push(s.end + L, s)
        continue
      }
      removeSession(ps, s)
    }
  }

  // --- common -----------------------------------------------------------------------------------

  const fireAll = (): Array<Firing<K, Out>> => {
    for (const ps of stateList) ps.judgedAgainst = ps.clock.effective
    watermarks.advance()
    const out: Array<Firing<K, Out>> = []
    for (const ps of stateList) {
      // A replaying partition's E_p stays at the restore floor: the only windows it could fire are
      // rebuilt ones that were emitted before the restart, complete only at the end of the replay.
      if (ps.replaying) continue
      if (isSession) fireSessions(ps, out)
      else fireAligned(ps, out)
    }
    if (out.length > 1) {
      out.sort((a, b) =>
        a.window.end - b.window.end || compareKeys(a.key, b.key) || a.partition - b.partition ||
        a.window.start - b.window.start
      )
    }
    firedCount += out.length
    return out
  }

  const safeOffset = (partition: number): number | undefined => {
    const ps = states.get(partition)
    if (ps === undefined || ps.lastOffset < 0) return undefined
    let min = ps.lastOffset + 1
    for (const slice of ps.order) if (slice.minOffset < min) min = slice.minOffset
    for (const list of ps.sessions.values()) for (const s of list) if (s.minOffset < min) min = s.minOffset
    return min
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
      const ps: PartitionState<K, Acc> = {
        id: partition,
        clock,
        lastOffset: -1,
        judgedAgainst: clock.effective,
        replayFloor: restored ?? -Infinity,
        replayEnd,
        replaying,
        slices: new Map(),
        order: [],
        pending: [],
        sessions: new Map(),
        fireHeap: makeMinHeap(),
        purgeHeap: makeMinHeap()
      }
      states.set(partition, ps)
      stateList = [...states.values()]
    },
    revoke: (partition) => {
      const ps = states.get(partition)
      if (ps === undefined) return
      for (const slice of ps.order) {
        openKeyWindows -= slice.byKey.size
        recordsInOpen -= slice.records
      }
      for (const list of ps.sessions.values()) {
        for (const s of list) {
          openKeyWindows--
          recordsInOpen -= s.count
        }
      }
      states.delete(partition)
      stateList = [...states.values()]
      watermarks.revoke(partition)
    },
    process: (partition, batch, nowMs) => {
      const ps = getState(partition)
      const late: Array<LateRecord<WindowRecord<K, V>>> = []
      if (batch.length > 0) {
        const maxT = isSession ? processSessions(ps, batch, late) : processAligned(ps, batch, late)
        watermarks.observeRecords(partition, maxT, nowMs)
        if (ps.replaying && ps.lastOffset + 1 >= ps.replayEnd) {
          ps.replaying = false
          watermarks.endReplay(ps.clock)
        }
      } else {
        watermarks.observeTime(nowMs)
      }
      return { fired: fireAll(), late }
    },
    onProcessingTime: (nowMs) => {
      watermarks.observeTime(nowMs)
      return { fired: fireAll(), late: [] }
    },
    watermark: () => watermarks.watermark(),
    partitionWatermark: (partition) => watermarks.get(partition)?.watermark,
    effectiveWatermark: (partition) => watermarks.get(partition)?.effective,
    safeOffset,
    checkpoint: (partition) => {
      const ps = states.get(partition)
      const offset = safeOffset(partition)
      if (ps === undefined || offset === undefined) return undefined
      const clock = ps.clock
      // During a replay, what the restart knew is still owed: the restored W_p and replay end (a
      // second restart must not take the rest of the first replay for new records).
      return ps.replaying
        ? {
          offset,
          watermark: clock.effective,
          partitionWatermark: Math.max(clock.watermark, clock.deferredWatermark),
          endOffset: Math.max(ps.lastOffset + 1, ps.replayEnd)
        }
        : { offset, watermark: clock.effective, partitionWatermark: clock.watermark, endOffset: ps.lastOffset + 1 }
    },
    assignedPartitions: () => stateList.map((ps) => ps.id),
    stats: () => ({
      partitions: stateList.length,
      openKeyWindows,
      recordsInOpenWindows: recordsInOpen,
      processed,
      late: lateCount,
      replayed,
      duplicates,
      fired: firedCount
    })
  }
}
