/**
 * Naive, obviously-correct reference for the window engine, plus the scenario generator shared by
 * the property tests. Everything is recomputed from the full list of steps (quadratic, on purpose).
 */
import { Arbitrary, Schema } from "effect"
import { type Window, type WindowAssigner, windowsFor } from "../../src/window/WindowAssigner.ts"

export interface Rec {
  readonly partition: number
  readonly offset: number
  readonly eventTime: number
  readonly key: number
  readonly value: number
}

export type Step =
  | { readonly _tag: "batch"; readonly partition: number; readonly records: ReadonlyArray<Rec>; readonly now: number }
  | { readonly _tag: "tick"; readonly now: number }

export interface RefConfig {
  readonly assigner: WindowAssigner
  readonly outOfOrdernessMs: number
  readonly allowedLatenessMs: number
  readonly idleTimeoutMs: number
  readonly emitEmpty: boolean
  readonly partitions: number
}

export interface RefFiring {
  readonly partition: number
  readonly key: number
  readonly start: number
  readonly end: number
  readonly kind: "final" | "update" | "empty"
  readonly values: ReadonlyArray<number>
}

export interface RefLate {
  readonly partition: number
  readonly offset: number
  readonly missed: ReadonlyArray<Window>
}

export interface RefStepOutput {
  readonly fired: Array<RefFiring>
  readonly late: Array<RefLate>
}

// --- watermark definition ------------------------------------------------------------------------

/** E after each step (pipeline watermark, made monotonic), straight from the definition. */
export const effectiveWatermarks = (cfg: RefConfig, steps: ReadonlyArray<Step>): Array<number> => {
  const out: Array<number> = []
  let E = -Infinity
  const firstNow = steps[0]?.now ?? 0
  // Processing time of each partition's last batch, or of the last batch that ended a pause of every
  // partition (that batch restarts every idle timer).
  const lastActivity = Array.from({ length: cfg.partitions }, () => firstNow)
  const idleAt = (now: number, q: number) => now - lastActivity[q]! > cfg.idleTimeoutMs
  for (let i = 0; i < steps.length; i++) {
    const upTo = steps.slice(0, i + 1)
    const now = Math.max(...upTo.map((s) => s.now))
    const step = steps[i]!
    if (step._tag === "batch") {
      const everyPartitionIdle = lastActivity.every((_, q) => idleAt(now, q))
      for (let q = 0; q < cfg.partitions; q++) if (everyPartitionIdle || q === step.partition) lastActivity[q] = now
    }
    const ws: Array<{ w: number; idle: boolean }> = []
    for (let q = 0; q < cfg.partitions; q++) {
      const batches = upTo.filter((s): s is Extract<Step, { _tag: "batch" }> => s._tag === "batch" && s.partition === q)
      const times = batches.flatMap((b) => b.records.map((r) => r.eventTime))
      const w = times.length === 0 ? -Infinity : Math.max(...times) - cfg.outOfOrdernessMs
      ws.push({ w, idle: idleAt(now, q) })
    }
    const active = ws.filter((x) => !x.idle)
    const W = active.length > 0 ? Math.min(...active.map((x) => x.w)) : Math.max(...ws.map((x) => x.w))
    E = Math.max(E, W)
    out.push(E)
  }
  return out
}

/**
 * What each record of each step is judged against: E before the step, or the partition's own
 * watermark just before the record (its earlier records, in offset order) where that is higher.
 */
export const judgedAgainst = (cfg: RefConfig, steps: ReadonlyArray<Step>): Array<Array<number>> => {
  const E = effectiveWatermarks(cfg, steps)
  const own = Array.from({ length: cfg.partitions }, () => -Infinity)
  return steps.map((s, i) =>
    s._tag === "batch"
      ? s.records.map((r) => {
        const judge = Math.max(i === 0 ? -Infinity : E[i - 1]!, own[r.partition]!)
        own[r.partition] = Math.max(own[r.partition]!, r.eventTime - cfg.outOfOrdernessMs)
        return judge
      })
      : []
  )
}

const sortFired = (fs: Array<RefFiring>): Array<RefFiring> =>
  fs.sort((a, b) => a.end - b.end || a.key - b.key || a.partition - b.partition || a.start - b.start)

const gid = (p: number, k: number, start: number) => `${p}|${k}|${start}`

// --- aligned windows -----------------------------------------------------------------------------

/** Reference for tumbling/sliding windows: group on-time records by (partition, key, window). */
export const referenceAligned = (cfg: RefConfig, steps: ReadonlyArray<Step>): Array<RefStepOutput> => {
  const a = cfg.assigner
  if (a._tag !== "Aligned") throw new Error("aligned only")
  const L = cfg.allowedLatenessMs
  const E = effectiveWatermarks(cfg, steps)
  const judge = judgedAgainst(cfg, steps)
  const out: Array<RefStepOutput> = steps.map(() => ({ fired: [], late: [] }))
  // (partition, key, start) -> on-time records with the step they arrived in
  const groups = new Map<string, { p: number; k: number; start: number; recs: Array<{ v: number; step: number }> }>()
  steps.forEach((s, i) => {
    if (s._tag !== "batch") return
    s.records.forEach((r, j) => {
      const before = judge[i]![j]!
      const wins = windowsFor(a, r.eventTime)
      const missed = wins.filter((w) => w.end + L <= before)
      for (const w of wins) {
        if (w.end + L <= before) continue
        const id = gid(r.partition, r.key, w.start)
        let g = groups.get(id)
        if (g === undefined) groups.set(id, g = { p: r.partition, k: r.key, start: w.start, recs: [] })
        g.recs.push({ v: r.value, step: i })
      }
      if (missed.length > 0) out[i]!.late.push({ partition: r.partition, offset: r.offset, missed })
    })
  })
  // Candidate key-windows: non-empty ones, plus (emitEmpty) the successor of each.
  const candidates = new Map<string, { p: number; k: number; start: number }>()
  for (const [id, g] of groups) {
    candidates.set(id, g)
    if (cfg.emitEmpty) {
      candidates.set(gid(g.p, g.k, g.start + a.slideMs), { p: g.p, k: g.k, start: g.start + a.slideMs })
    }
  }
  for (const c of candidates.values()) {
    const end = c.start + a.sizeMs
    const recs = groups.get(gid(c.p, c.k, c.start))?.recs ?? []
    const pred = groups.get(gid(c.p, c.k, c.start - a.slideMs))?.recs ?? []
    let emitted = false
    for (let i = 0; i < steps.length; i++) {
      const upTo = recs.filter((r) => r.step <= i)
      const base = { partition: c.p, key: c.k, start: c.start, end }
      if (!emitted) {
        if (E[i]! >= end && upTo.length > 0) {
          out[i]!.fired.push({ ...base, kind: "final", values: upTo.map((r) => r.v) })
          emitted = true
        } else if (cfg.emitEmpty && E[i]! >= end && upTo.length === 0 && pred.some((r) => r.step <= i)) {
          out[i]!.fired.push({ ...base, kind: "empty", values: [] })
          emitted = true
        }
      } else if (recs.some((r) => r.step === i)) {
        out[i]!.fired.push({ ...base, kind: "update", values: upTo.map((r) => r.v) })
      }
    }
  }
  for (const o of out) sortFired(o.fired)
  return out
}

// --- session windows -----------------------------------------------------------------------------

/** Reference for session windows: a direct simulation of merge-on-overlap with record lists. */
export const referenceSessions = (cfg: RefConfig, steps: ReadonlyArray<Step>): Array<RefStepOutput> => {
  const a = cfg.assigner
  if (a._tag !== "Session") throw new Error("session only")
  const L = cfg.allowedLatenessMs
  const E = effectiveWatermarks(cfg, steps)
  const judge = judgedAgainst(cfg, steps)
  interface S {
    p: number
    k: number
    start: number
    end: number
    values: Array<number>
    dirty: boolean
    everEmitted: boolean
  }
  let sessions: Array<S> = []
  return steps.map((s, i) => {
    const o: RefStepOutput = { fired: [], late: [] }
    if (s._tag === "batch") {
      for (const [j, r] of s.records.entries()) {
        const before = judge[i]![j]!
        const cs = r.eventTime
        const ce = r.eventTime + a.gapMs
        const overlapping = sessions.filter((x) =>
          x.p === r.partition && x.k === r.key && x.start < ce && cs < x.end && x.end + L > before
        )
        if (overlapping.length === 0 && ce + L <= before) {
          o.late.push({ partition: r.partition, offset: r.offset, missed: [{ start: cs, end: ce }] })
          continue
        }
        sessions = sessions.filter((x) => !overlapping.includes(x))
        sessions.push({
          p: r.partition,
          k: r.key,
          start: Math.min(cs, ...overlapping.map((x) => x.start)),
          end: Math.max(ce, ...overlapping.map((x) => x.end)),
          // values in merge order (only used as a multiset)
          values: [...overlapping.flatMap((x) => x.values), r.value],
          dirty: true,
          everEmitted: overlapping.some((x) => x.everEmitted)
        })
      }
    }
    for (const x of sessions) {
      if (x.dirty && x.end <= E[i]!) {
        o.fired.push({
          partition: x.p,
          key: x.k,
          start: x.start,
          end: x.end,
          kind: x.everEmitted ? "update" : "final",
          values: [...x.values]
        })
        x.dirty = false
        x.everEmitted = true
      }
    }
    sessions = sessions.filter((x) => x.end + L > E[i]!)
    sortFired(o.fired)
    return o
  })
}

// --- scenario generation -------------------------------------------------------------------------

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

export const Event = Schema.Struct({
  dt: Int(0, 6),
  jitter: Int(-12, 12),
  key: Int(0, 4),
  value: Int(-20, 20),
  // 0: same batch continues, 1: batch ends, 2: batch ends and a processing-time tick follows
  cut: Int(0, 2),
  dNow: Int(0, 8)
})
export type Event = typeof Event.Type

export const events = Arbitrary.array(Arbitrary.schema(Event), { maxLength: 70 })

/** Sparser activity per key (bigger time steps, more keys): keys often go quiet for whole windows. */
export const sparseEvents = Arbitrary.array(
  Arbitrary.schema(Schema.Struct({ ...Event.fields, dt: Int(0, 15), key: Int(0, 7) })),
  { maxLength: 50 }
)

/** Turn generated events into single-partition batches (key k lives in partition k % P) and ticks. */
export const buildSteps = (partitions: number, evs: ReadonlyArray<Event>, finalTickAfterMs: number): Array<Step> => {
  const steps: Array<Step> = []
  const offsets = Array.from({ length: partitions }, () => 0)
  let t = 0
  let now = 0
  let cur: { partition: number; records: Array<Rec>; now: number } | undefined
  const flush = () => {
    if (cur !== undefined) steps.push({ _tag: "batch", ...cur })
    cur = undefined
  }
  for (const ev of evs) {
    t += ev.dt
    const p = ev.key % partitions
    if (cur !== undefined && cur.partition !== p) flush()
    now += ev.dNow
    cur ??= { partition: p, records: [], now }
    cur.records.push({ partition: p, offset: offsets[p]!++, eventTime: t + ev.jitter, key: ev.key, value: ev.value })
    if (ev.cut >= 1) flush()
    if (ev.cut === 2) {
      now += 3 * ev.dNow
      steps.push({ _tag: "tick", now })
    }
  }
  flush()
  if (steps.length > 0 && finalTickAfterMs > 0) steps.push({ _tag: "tick", now: now + finalTickAfterMs })
  return steps
}
