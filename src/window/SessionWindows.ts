/**
 * Session windows for the window engine. Sessions are per key and merge, so their ends differ per
 * key: a partition keeps each key's sessions in a list, and heaps by end (to fire) and by end +
 * lateness (to purge). Semantics: docs/window-semantics.md ("Session windows").
 */
import type { Aggregator } from "./Aggregator.ts"
import { makeMinHeap, type MinHeap } from "./MinHeap.ts"
import type { Session, Window } from "./WindowAssigner.ts"
import type { PartitionState, WindowCounters, Windowing } from "./Windowing.ts"
import type { Firing, WindowRecord } from "./WindowRecord.ts"

interface SessionWindow<K, Acc> {
  readonly key: K
  start: number
  end: number
  acc: Acc
  count: number
  minOffset: number
  dirty: boolean
  everEmitted: boolean
  /** False once merged into another session or purged: heap entries are dropped lazily. */
  alive: boolean
  fireQueued: boolean
  purgeQueued: boolean
}

interface SessionState<K, Acc> {
  readonly sessions: Map<K, Array<SessionWindow<K, Acc>>>
  readonly fireHeap: MinHeap<SessionWindow<K, Acc>>
  readonly purgeHeap: MinHeap<SessionWindow<K, Acc>>
}

export const makeSessionWindows = <K, V, Acc, Out>(
  assigner: Session,
  agg: Aggregator<V, Acc, Out>,
  L: number,
  counters: WindowCounters
): Windowing<K, V, SessionState<K, Acc>, Out> => {
  const gap = assigner.gapMs
  type State = PartitionState<SessionState<K, Acc>>

  const queueFire = (ps: State, s: SessionWindow<K, Acc>): void => {
    if (!s.fireQueued) {
      s.fireQueued = true
      ps.windows.fireHeap.push(s.end, s)
    }
  }

  const add = (
    ps: State,
    r: WindowRecord<K, V>,
    judge: number,
    replay: boolean,
    own: number
  ): Array<Window> | undefined => {
    const t = r.eventTime
    const cs = t
    const ce = t + gap
    const sessions = ps.windows.sessions
    let list = sessions.get(r.key)
    let target: SessionWindow<K, Acc> | undefined
    if (list !== undefined) {
      let w = 0
      for (let j = 0; j < list.length; j++) {
        const s = list[j]!
        // A session past its lateness for this record is closed to it, purged yet or not (that
        // depends on the other partitions): the same verdict in every run (see Partitions.ingest).
        // A replayed record met a lower E_p before the restart than the restored one, so only p's
        // own watermark can close a session to it: one it closed then stays closed (the record
        // opened a separate session, which may still be kept); one open then is still open.
        if (s.start < ce && cs < s.end && s.end + L > (replay ? own : judge)) {
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
            counters.openKeyWindows--
            continue
          }
        }
        list[w++] = s
      }
      list.length = w
    }
    if (target === undefined) {
      // Not against the restored watermark: a session's first record can lie long before it. Late
      // by p's own watermark: late before the restart too, and reported then.
      if (ce + L <= (replay ? own : judge)) {
        if (!replay) return [{ start: cs, end: ce }]
        counters.replayed++
        return undefined
      }
      target = {
        key: r.key,
        start: cs,
        end: ce,
        acc: agg.empty(),
        count: 0,
        minOffset: r.offset,
        dirty: false,
        everEmitted: false,
        alive: true,
        fireQueued: false,
        purgeQueued: false
      }
      if (list === undefined) {
        list = []
        sessions.set(r.key, list)
      }
      list.push(target)
      counters.openKeyWindows++
    } else {
      if (cs < target.start) target.start = cs
      if (ce > target.end) target.end = ce
    }
    target.acc = agg.add(target.acc, r.value)
    target.count++
    counters.recordsInOpen++
    target.dirty = true
    queueFire(ps, target)
    return undefined
  }

  const removeSession = (ps: State, s: SessionWindow<K, Acc>): void => {
    s.alive = false
    counters.openKeyWindows--
    counters.recordsInOpen -= s.count
    const sessions = ps.windows.sessions
    const list = sessions.get(s.key)
    if (list === undefined) return
    const i = list.indexOf(s)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) sessions.delete(s.key)
  }

  const fire = (ps: State, out: Array<Firing<K, Out>>): void => {
    const E = ps.clock.effective
    const { fireHeap, purgeHeap } = ps.windows
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
        counters.replayed += s.count // rebuilt from a replay, already emitted before the restart
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
        purgeHeap.push(s.end + L, s)
      }
    }
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

  return {
    makeState: () => ({ sessions: new Map(), fireHeap: makeMinHeap(), purgeHeap: makeMinHeap() }),
    beginBatch: () => {},
    add,
    fire,
    minOffset: (ps, bound) => {
      let min = bound
      for (const list of ps.windows.sessions.values()) for (const s of list) if (s.minOffset < min) min = s.minOffset
      return min
    },
    drop: (ps) => {
      for (const list of ps.windows.sessions.values()) {
        for (const s of list) {
          counters.openKeyWindows--
          counters.recordsInOpen -= s.count
        }
      }
    }
  }
}
