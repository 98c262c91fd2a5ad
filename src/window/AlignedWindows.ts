/**
 * Tumbling and sliding windows for the window engine. Every key shares the window boundaries, so a
 * partition keeps one Slice per window holding all its keys' state, fired and purged as a unit; and
 * only aligned windows can fire "empty" after a key's activity stops.
 * Semantics: docs/window-semantics.md.
 */
import type { Aggregator } from "./Aggregator.ts"
import type { Aligned, Window } from "./WindowAssigner.ts"
import type { PartitionState, WindowCounters, Windowing } from "./Windowing.ts"
import type { Firing, FiringKind, WindowRecord } from "./WindowRecord.ts"

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

interface AlignedState<K, Acc> {
  readonly slices: Map<number, Slice<K, Acc>>
  /** By start, hence by end: the purge takes a prefix. */
  readonly order: Array<Slice<K, Acc>>
  /** Key-windows of already fired slices that need an emission. */
  readonly pending: Array<KeyWindow<K, Acc>>
}

export const makeAlignedWindows = <K, V, Acc, Out>(
  assigner: Aligned,
  agg: Aggregator<V, Acc, Out>,
  L: number,
  emitEmpty: boolean,
  counters: WindowCounters
): Windowing<K, V, AlignedState<K, Acc>, Out> => {
  const size = assigner.sizeMs
  const slide = assigner.slideMs
  const offsetMs = assigner.offsetMs
  type State = PartitionState<AlignedState<K, Acc>>
  // Consecutive records mostly fall in the same window: skip the Map lookup for them.
  let lastSlice: Slice<K, Acc> | undefined

  const getOrCreateSlice = (ps: State, start: number, E: number): Slice<K, Acc> => {
    const { order, slices } = ps.windows
    let slice = slices.get(start)
    if (slice !== undefined) return slice
    const end = start + size
    // A slice created after the watermark passed its end (late record within lateness, or a replay
    // after restart) is "already fired": its key-windows are emitted through `pending`.
    slice = { start, end, byKey: new Map(), fired: end <= E, minOffset: Infinity, records: 0 }
    slices.set(start, slice)
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

  // While p replays, a window ending at or below the restored watermark was emitted before the
  // restart, with every record replayed into it: re-emitting it could only write an older row over
  // the one the sink holds (updated since by records after the restore point).
  const alreadyEmitted = (ps: State, end: number): boolean => ps.replaying && end <= ps.replayFloor

  // "empty" marker for `key` in the window starting at `start`, unless that key-window exists or
  // was purged before this call (`purgedBelow` = E_p before the batch; a window purged by THIS
  // call's watermark still gets its marker, fired just before the purge).
  const ensureEmptyMarker = (ps: State, start: number, key: K, holdOffset: number, purgedBelow: number): void => {
    if (start + size + L <= purgedBelow) return
    const slice = getOrCreateSlice(ps, start, ps.clock.effective)
    if (slice.byKey.has(key)) return
    const emitted = alreadyEmitted(ps, slice.end)
    const kw: KeyWindow<K, Acc> = {
      key,
      slice,
      acc: agg.empty(),
      count: 0,
      maxOffset: holdOffset,
      dirty: !emitted,
      emitted
    }
    slice.byKey.set(key, kw)
    counters.openKeyWindows++
    if (holdOffset < slice.minOffset) slice.minOffset = holdOffset
    if (slice.fired && !emitted) ps.windows.pending.push(kw)
  }

  const add = (ps: State, r: WindowRecord<K, V>, judge: number, replay: boolean): Array<Window> | undefined => {
    const offset = r.offset
    const t = r.eventTime
    const key = r.key
    // E_p before the batch: which windows are purged, or already fired.
    const E = ps.clock.effective
    let missed: Array<Window> | undefined
    let added = false
    const first = Math.floor((t - offsetMs) / slide) * slide + offsetMs
    for (let s = first; s > t - size; s -= slide) {
      const end = s + size
      if (end + L <= judge) {
        if (replay && end + L <= ps.replayFloor) {
          // Already emitted before the restart. Re-create a pending "empty" marker (no-op if the
          // successor window exists or is gone too).
          if (emitEmpty) ensureEmptyMarker(ps, s + slide, key, offset, E)
        } else if (!(replay && ps.replaying)) {
          ;(missed ??= []).push({ start: s, end })
        } // else late by p's own watermark before the restart too, and reported then
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
        counters.openKeyWindows++
        if (offset < slice.minOffset) slice.minOffset = offset
      }
      kw.acc = agg.add(kw.acc, r.value)
      kw.count++
      kw.maxOffset = offset
      slice.records++
      counters.recordsInOpen++
      added = true
      if (replay && alreadyEmitted(ps, end)) {
        kw.emitted = true
        // Its successor's "empty" firing may still be due (fireKeyWindow would have created it).
        if (emitEmpty) ensureEmptyMarker(ps, s + slide, key, offset, E)
      } else if (!kw.dirty) {
        kw.dirty = true
        if (slice.fired) ps.windows.pending.push(kw)
      }
    }
    // Neither added nor late: every window was skipped as already emitted before the restart.
    if (missed === undefined && !added) counters.replayed++
    return missed
  }

  const fireKeyWindow = (ps: State, kw: KeyWindow<K, Acc>, out: Array<Firing<K, Out>>): void => {
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

  const fire = (ps: State, out: Array<Firing<K, Out>>): void => {
    const E = ps.clock.effective
    const { order, pending, slices } = ps.windows
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
    for (let i = 0; i < pending.length; i++) {
      const kw = pending[i]!
      if (kw.dirty) fireKeyWindow(ps, kw, out)
    }
    pending.length = 0
    // Purge windows past their allowed lateness.
    let k = 0
    while (k < order.length && order[k]!.end + L <= E) {
      const slice = order[k]!
      slices.delete(slice.start)
      counters.openKeyWindows -= slice.byKey.size
      counters.recordsInOpen -= slice.records
      k++
    }
    if (k > 0) order.splice(0, k)
  }

  return {
    makeState: () => ({ slices: new Map(), order: [], pending: [] }),
    beginBatch: () => {
      lastSlice = undefined
    },
    add,
    fire,
    minOffset: (ps, bound) => {
      let min = bound
      for (const slice of ps.windows.order) if (slice.minOffset < min) min = slice.minOffset
      return min
    },
    drop: (ps) => {
      for (const slice of ps.windows.order) {
        counters.openKeyWindows -= slice.byKey.size
        counters.recordsInOpen -= slice.records
      }
    }
  }
}
