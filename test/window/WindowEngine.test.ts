import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import * as Agg from "../../src/window/Aggregator.ts"
import { session, sliding, tumbling } from "../../src/window/WindowAssigner.ts"
import { makeWindowEngine, type WindowEngine } from "../../src/window/WindowEngine.ts"
import type { ProcessResult } from "../../src/window/WindowRecord.ts"
import {
  buildSteps,
  events,
  type RefConfig,
  referenceAligned,
  referenceSessions,
  type RefFiring,
  type RefLate,
  type RefStepOutput,
  sparseEvents,
  type Step
} from "./Reference.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const aggregator = Agg.combine({
  count: Agg.count,
  sum: Agg.sum,
  min: Agg.min,
  max: Agg.max,
  median: Agg.median,
  mean: Agg.mean,
  stddev: Agg.stddev
})
type Result = Agg.AggregatorOutput<typeof aggregator>

// Direct, two-pass computation of the expected result from the raw values.
const expected = (values: ReadonlyArray<number>): Result => {
  const n = values.length
  const sum = values.reduce((s, v) => s + v, 0)
  const mean = n === 0 ? null : sum / n
  const sorted = [...values].sort((a, b) => a - b)
  const median = n === 0 ? null : n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2
  const stddev = n < 2 ? null : Math.sqrt(values.reduce((s, v) => s + (v - mean!) ** 2, 0) / (n - 1))
  return {
    count: n,
    sum,
    min: n === 0 ? null : sorted[0]!,
    max: n === 0 ? null : sorted[n - 1]!,
    median,
    mean,
    stddev
  }
}

const close = (a: number | null, b: number | null): boolean =>
  a === null || b === null ? a === b : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b))

const sameResult = (actual: Result, exp: Result): boolean =>
  actual.count === exp.count && actual.sum === exp.sum && actual.min === exp.min && actual.max === exp.max &&
  actual.median === exp.median && close(actual.mean, exp.mean) && close(actual.stddev, exp.stddev)

interface Rec {
  readonly partition: number
  readonly offset: number
  readonly eventTime: number
  readonly key: number
  readonly value: number
}

type Engine = WindowEngine<number, number, Result>
type Output = ProcessResult<
  number,
  Result,
  { readonly offset: number; readonly eventTime: number; readonly key: number; readonly value: number }
>

const makeEngine = (cfg: RefConfig): Engine =>
  makeWindowEngine({
    assigner: cfg.assigner,
    aggregator,
    outOfOrdernessMs: cfg.outOfOrdernessMs,
    allowedLatenessMs: cfg.allowedLatenessMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    emitEmptyAfterActivity: cfg.emitEmpty
  })

const runStep = (engine: Engine, s: Step): Output =>
  s._tag === "batch" ? engine.process(s.partition, s.records, s.now) : engine.onProcessingTime(s.now)

const runAll = (cfg: RefConfig, steps: ReadonlyArray<Step>): Array<Output> => {
  const engine = makeEngine(cfg)
  for (let p = 0; p < cfg.partitions; p++) engine.assign(p)
  return steps.map((s) => runStep(engine, s))
}

const describeFiring = (f: RefFiring) =>
  `${f.kind} p${f.partition} k${f.key} [${f.start},${f.end}) ${JSON.stringify(expected(f.values))}`

/** Engine output of every step must equal the reference output exactly (order included). */
const compareSteps = (actual: ReadonlyArray<Output>, reference: ReadonlyArray<RefStepOutput>): void => {
  assert.strictEqual(actual.length, reference.length)
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!
    const r = reference[i]!
    const aF = a.fired.map((f) => `${f.kind} p${f.partition} k${f.key} [${f.window.start},${f.window.end})`)
    const rF = r.fired.map((f) => `${f.kind} p${f.partition} k${f.key} [${f.start},${f.end})`)
    assert.deepStrictEqual(aF, rF, `fired windows at step ${i}`)
    for (let j = 0; j < r.fired.length; j++) {
      const exp = expected(r.fired[j]!.values)
      assert.isTrue(
        sameResult(a.fired[j]!.result, exp),
        `step ${i}: ${describeFiring(r.fired[j]!)} but got ${JSON.stringify(a.fired[j]!.result)}`
      )
    }
    const aL: Array<RefLate> = a.late.map((l) => ({
      partition: l.partition,
      offset: l.record.offset,
      missed: l.missedWindows.map((w) => ({ start: w.start, end: w.end }))
    }))
    assert.deepStrictEqual(aL, r.late, `late records at step ${i}`)
  }
}

/** Every record: late at most once (and exactly once when the reference says so). */
const lateOnce = (actual: ReadonlyArray<Output>): boolean => {
  const seen = new Set<string>()
  for (const o of actual) {
    for (const l of o.late) {
      const id = `${l.partition}:${l.record.offset}`
      if (seen.has(id)) return false
      seen.add(id)
    }
  }
  return true
}

const Common = Schema.Struct({
  size: Int(4, 30),
  slideDiv: Int(1, 4),
  ooo: Int(0, 15),
  lateness: Int(0, 25),
  idle: Int(0, 40),
  partitions: Int(1, 3),
  emitEmpty: Schema.Boolean
})
type Common = typeof Common.Type

const alignedConfig = (c: Common, kind: "tumbling" | "sliding"): RefConfig => ({
  assigner: kind === "tumbling" ? tumbling(c.size) : sliding(c.size, Math.max(1, Math.floor(c.size / c.slideDiv))),
  outOfOrdernessMs: c.ooo,
  allowedLatenessMs: c.lateness,
  idleTimeoutMs: c.idle === 0 ? Infinity : c.idle,
  emitEmpty: c.emitEmpty,
  partitions: c.partitions
})

const runs = { arbitrary: { runs: 300 } }

describe("WindowEngine vs reference", () => {
  it.prop("tumbling windows", { c: Common, evs: events }, ({ c, evs }) => {
    const cfg = alignedConfig(c, "tumbling")
    const steps = buildSteps(cfg.partitions, evs, 100)
    const actual = runAll(cfg, steps)
    compareSteps(actual, referenceAligned(cfg, steps))
    assert.isTrue(lateOnce(actual))
  }, runs)

  it.prop("sliding windows", { c: Common, evs: events }, ({ c, evs }) => {
    const cfg = alignedConfig(c, "sliding")
    const steps = buildSteps(cfg.partitions, evs, 100)
    const actual = runAll(cfg, steps)
    compareSteps(actual, referenceAligned(cfg, steps))
    assert.isTrue(lateOnce(actual))
  }, runs)

  it.prop("session windows", { c: Common, gap: Int(1, 15), evs: events }, ({ c, evs, gap }) => {
    const cfg: RefConfig = { ...alignedConfig(c, "tumbling"), assigner: session(gap), emitEmpty: false }
    const steps = buildSteps(cfg.partitions, evs, 100)
    const actual = runAll(cfg, steps)
    compareSteps(actual, referenceSessions(cfg, steps))
    assert.isTrue(lateOnce(actual))
  }, runs)
})

// --- crash / rebalance replay ---------------------------------------------------------------------

interface ReplayOutcome {
  readonly ok: boolean
  readonly reason?: string
}

/** Row identity in an upserting sink. */
const id = (f: { partition: number; key: number; window: { start: number } }) =>
  `${f.partition}|${f.key}|${f.window.start}`

/**
 * Run A uninterrupted. Run B = A up to step `cut`, "crash", then a fresh engine restored from the
 * checkpoints (offset, watermarks) taken after step `cut`, replaying each partition from its safe
 * offset and continuing with the same later steps. A sink that upserts by (partition, key, window
 * start) must end up with the same rows, and late records must be reported exactly once overall.
 */
const replayCheck = (cfg: RefConfig, steps: ReadonlyArray<Step>, cutAt: number): ReplayOutcome => {
  const cut = Math.min(steps.length, Math.floor((cutAt / 100) * (steps.length + 1)))
  const a = makeEngine(cfg)
  for (let p = 0; p < cfg.partitions; p++) a.assign(p)
  const outA: Array<Output> = []
  const checkpoints: Array<ReturnType<Engine["checkpoint"]>> = []
  steps.forEach((s, i) => {
    outA.push(runStep(a, s))
    if (i === cut - 1) { for (let p = 0; p < cfg.partitions; p++) checkpoints[p] = a.checkpoint(p) }
  })
  const b = makeEngine(cfg)
  const outB: Array<Output> = []
  const nowAtCut = cut === 0 ? 0 : steps[cut - 1]!.now
  const all: Array<Rec> = steps.flatMap((s) => (s._tag === "batch" ? s.records : []))
  for (let p = 0; p < cfg.partitions; p++) {
    const cp = checkpoints[p]
    if (cp === undefined) {
      b.assign(p)
    } else {
      b.assign(p, {
        restoredWatermark: cp.watermark,
        restoredPartitionWatermark: cp.partitionWatermark,
        replayEndOffset: cp.endOffset
      })
    }
  }
  const replayOut: Array<Output> = []
  for (let p = 0; p < cfg.partitions; p++) {
    const cp = checkpoints[p]
    if (cp === undefined) continue
    const replay = all.filter((r) => r.partition === p && r.offset >= cp.offset && r.offset < cp.endOffset)
    if (replay.length > 0) replayOut.push(b.process(p, replay, nowAtCut))
  }
  for (let i = cut; i < steps.length; i++) outB.push(runStep(b, steps[i]!))

  const emptyResult = JSON.stringify(aggregator.result(aggregator.empty()))
  // Rows in an upserting sink.
  const sinkA = new Map<string, string>()
  for (const o of outA) for (const f of o.fired) sinkA.set(id(f), JSON.stringify(f.result))
  const sinkAtCut = new Map<string, string>()
  for (const o of outA.slice(0, cut)) for (const f of o.fired) sinkAtCut.set(id(f), JSON.stringify(f.result))
  const sinkB = new Map(sinkAtCut)
  // Re-emissions of the replay must be identical to what was emitted before the crash.
  for (const o of replayOut) {
    for (const f of o.fired) {
      const before = sinkAtCut.get(id(f))
      const now = JSON.stringify(f.result)
      if (before !== undefined && before !== now) {
        return { ok: false, reason: `re-emission of ${id(f)}: ${before} vs ${now}` }
      }
      if (before === undefined && now !== emptyResult) {
        return { ok: false, reason: `replay emitted new ${id(f)} ${now}` }
      }
      sinkB.set(id(f), now)
    }
  }
  for (const o of outB) for (const f of o.fired) sinkB.set(id(f), JSON.stringify(f.result))
  for (const [k, v] of sinkA) {
    if (sinkB.get(k) !== v) return { ok: false, reason: `row ${k}: expected ${v}, got ${sinkB.get(k)}` }
  }
  // The only tolerated extra rows are "empty" markers (documented limitation).
  for (const [k, v] of sinkB) {
    if (!sinkA.has(k) && v !== emptyResult) return { ok: false, reason: `extra row ${k} ${v}` }
  }
  const lateIds = (os: ReadonlyArray<Output>) =>
    os.flatMap((o) => o.late.map((l) => `${l.partition}:${l.record.offset}`))
  const lateA = lateIds(outA).sort()
  const lateB = [...lateIds(outA.slice(0, cut)), ...lateIds(replayOut), ...lateIds(outB)].sort()
  if (JSON.stringify(lateA) !== JSON.stringify(lateB)) {
    return { ok: false, reason: `late records differ: ${lateA} vs ${lateB}` }
  }
  return { ok: true }
}

const check = (cfg: RefConfig, steps: ReadonlyArray<Step>, cutAt: number) => {
  const r = replayCheck(cfg, steps, cutAt)
  assert.isTrue(r.ok, r.reason)
}
// Idleness depends on processing time, which a restart does not reproduce: disabled here.
const noIdle = (cfg: RefConfig): RefConfig => ({ ...cfg, idleTimeoutMs: Infinity })

describe("WindowEngine replay from safe offset", () => {
  it.prop("tumbling", { c: Common, evs: events, cutAt: Int(0, 100) }, ({ c, evs, cutAt }) => {
    const cfg = noIdle(alignedConfig(c, "tumbling"))
    check(cfg, buildSteps(cfg.partitions, evs, 0), cutAt)
  }, runs)

  it.prop("sliding", { c: Common, evs: events, cutAt: Int(0, 100) }, ({ c, evs, cutAt }) => {
    const cfg = noIdle(alignedConfig(c, "sliding"))
    check(cfg, buildSteps(cfg.partitions, evs, 0), cutAt)
  }, runs)

  // Pending "empty" firings whose predecessor window was already purged at commit time: the replay
  // must re-create them (they hold the safe offset at a record of the predecessor).
  it.prop("emitEmptyAfterActivity with little lateness, sparse keys", {
    c: Common,
    evs: sparseEvents,
    cutAt: Int(0, 100),
    useSliding: Schema.Boolean,
    lateness: Int(0, 3)
  }, ({ c, evs, cutAt, useSliding, lateness }) => {
    const base = alignedConfig({ ...c, lateness }, useSliding ? "sliding" : "tumbling")
    const cfg: RefConfig = { ...noIdle(base), emitEmpty: true }
    check(cfg, buildSteps(cfg.partitions, evs, 0), cutAt)
  }, runs)

  it.prop("sessions (no late records, sessions never re-opened after purge)", {
    c: Common,
    gap: Int(1, 15),
    evs: events,
    cutAt: Int(0, 100)
  }, ({ c, evs, gap, cutAt }) => {
    const cfg: RefConfig = { ...noIdle(alignedConfig(c, "tumbling")), assigner: session(gap), emitEmpty: false }
    const steps = buildSteps(cfg.partitions, evs, 0)
    // Documented limitation: exact only if no session overlapping an already purged one was opened
    // and no record was late (otherwise the replay cannot tell which records were merged).
    const ref = referenceSessions(cfg, steps)
    if (ref.some((o) => o.late.length > 0)) return
    const finals = ref.flatMap((o) => o.fired)
    const overlap = finals.some((x) =>
      finals.some((y) =>
        x !== y && x.partition === y.partition && x.key === y.key && x.start !== y.start && x.start < y.end &&
        y.start < x.end
      )
    )
    if (overlap) return
    check(cfg, steps, cutAt)
  }, { arbitrary: { runs: 2000 } })

  // Shrunk counterexample of the property above. Partition 1, key 3: offsets 0, 1 at 6, 13 open
  // [6,12) and [13,19); offset 2 at 7 comes after p1's own watermark reached 12, so [6,12) is closed
  // to it (not purged: E_1 is 6) and it opens [7,13). [6,12) fires alone after the cut; the replay
  // must not merge offset 2 into it.
  it("sessions: a replayed record stays out of a session its partition's own watermark closed", () => {
    const ev = (dt: number, jitter: number, key: number, value: number, cut: number, dNow: number) => ({
      dt,
      jitter,
      key,
      value,
      cut,
      dNow
    })
    const c: Common = { size: 4, slideDiv: 1, ooo: 1, lateness: 0, idle: 0, partitions: 2, emitEmpty: false }
    const cfg: RefConfig = { ...noIdle(alignedConfig(c, "tumbling")), assigner: session(6), emitEmpty: false }
    const evs = [
      ev(0, 6, 3, 0, 0, 0),
      ev(2, 11, 3, 0, 0, 0),
      ev(5, 0, 0, 0, 0, 6),
      ev(1, -1, 3, -4, 2, 3),
      ev(1, 6, 2, 6, 2, 3)
    ]
    const steps = buildSteps(cfg.partitions, evs, 0)
    // Inside the property's preconditions: nothing late, no overlapping emitted sessions.
    assert.isTrue(referenceSessions(cfg, steps).every((o) => o.late.length === 0))
    check(cfg, steps, 65)
  })
})

// --- several partitions restarting at different points, replays interleaved ----------------------

interface QueueItem {
  readonly partition: number
  readonly records: ReadonlyArray<Rec>
  readonly now: number
  /** Records below the partition's checkpoint `endOffset`: read again after the crash. */
  readonly replay: boolean
}

/**
 * A whole-process crash as the pipeline sees it. Checkpoints are committed per partition, so each
 * partition's last checkpoint was taken at a different step: partition p's at step `ck_p`, somewhere
 * between its own last batch and the crash (its E_p may have risen since, by other partitions). After
 * the crash a fresh engine restores every partition from its checkpoint, and the consumer interleaves
 * the partitions freely (`choices`): one partition can finish its replay and read new records while
 * another is still replaying old ones. The uninterrupted run A sees the same new batches in the same
 * order, without the replays.
 *
 * Always: no replayed record is late; no record is late twice; the restarted run is never stricter
 * than A (its late records are a subset of A's). When both runs judged the same records late (always
 * so with `ordered`, where out-of-orderness exceeds the generator's disorder), the upserting sink
 * must end with A's rows (extra "empty" rows tolerated, documented), and every row written after the
 * restart must be a value A also wrote for that window (no incomplete windows, not even transiently).
 */
const multiRestartCheck = (
  cfg: RefConfig,
  steps: ReadonlyArray<Step>,
  crashAt: number,
  ckAt: ReadonlyArray<number>,
  choices: ReadonlyArray<number>
): ReplayOutcome => {
  const P = cfg.partitions
  const crash = Math.min(steps.length, Math.floor((crashAt / 100) * (steps.length + 1)))
  const lastBatch = Array.from({ length: P }, () => 0) // steps run when p's last batch before the crash was done
  steps.slice(0, crash).forEach((s, i) => {
    if (s._tag === "batch") lastBatch[s.partition] = i + 1
  })
  const ckStep = lastBatch.map((l, p) => (l === 0 ? 0 : l + Math.floor(((ckAt[p] ?? 0) / 100) * (crash - l))))
  const a = makeEngine(cfg)
  for (let p = 0; p < P; p++) a.assign(p)
  const checkpoints: Array<ReturnType<Engine["checkpoint"]>> = Array.from({ length: P }, () => undefined)
  const outPre: Array<Output> = []
  for (let i = 0; i < crash; i++) {
    outPre.push(runStep(a, steps[i]!))
    for (let p = 0; p < P; p++) if (ckStep[p] === i + 1) checkpoints[p] = a.checkpoint(p)
  }
  const nowAtCrash = crash === 0 ? 0 : steps[crash - 1]!.now
  // Per partition: replay chunks (original batch boundaries), then the new batches.
  const queues: Array<Array<QueueItem>> = Array.from({ length: P }, () => [])
  steps.forEach((s, i) => {
    if (s._tag !== "batch") return
    const cp = checkpoints[s.partition]
    if (i < crash) {
      if (cp === undefined) return
      const records = s.records.filter((r) => r.offset >= cp.offset && r.offset < cp.endOffset)
      if (records.length > 0) {
        queues[s.partition]!.push({ partition: s.partition, records, now: nowAtCrash, replay: true })
      }
    } else {
      queues[s.partition]!.push({ partition: s.partition, records: s.records, now: s.now, replay: false })
    }
  })
  const merged: Array<QueueItem> = []
  for (let n = 0;; n++) {
    const open = queues.filter((q) => q.length > 0)
    if (open.length === 0) break
    merged.push(open[(choices.length === 0 ? 0 : choices[n % choices.length]!) % open.length]!.shift()!)
  }
  const outPost: Array<Output> = []
  for (const item of merged) if (!item.replay) outPost.push(a.process(item.partition, item.records, item.now))

  const b = makeEngine(cfg)
  for (let p = 0; p < P; p++) {
    const cp = checkpoints[p]
    if (cp === undefined) b.assign(p)
    else {
      b.assign(p, {
        restoredWatermark: cp.watermark,
        restoredPartitionWatermark: cp.partitionWatermark,
        replayEndOffset: cp.endOffset
      })
    }
  }
  const outB = merged.map((item) => b.process(item.partition, item.records, item.now))

  const lateIds = (os: ReadonlyArray<Output>) =>
    os.flatMap((o) => o.late.map((l) => `${l.partition}:${l.record.offset}`))
  const replayedIds = new Set(
    merged.filter((m) => m.replay).flatMap((m) => m.records.map((r) => `${r.partition}:${r.offset}`))
  )
  const lateBPost = lateIds(outB)
  const replayedLate = lateBPost.filter((x) => replayedIds.has(x))
  if (replayedLate.length > 0) return { ok: false, reason: `replayed records judged late: ${replayedLate}` }
  const allLateB = [...lateIds(outPre), ...lateBPost]
  if (new Set(allLateB).size !== allLateB.length) return { ok: false, reason: `a record is late twice: ${allLateB}` }
  const lateAPost = new Set(lateIds(outPost))
  const stricter = lateBPost.filter((x) => !lateAPost.has(x))
  if (stricter.length > 0) return { ok: false, reason: `late after the restart only: ${stricter}` }
  if (lateBPost.length !== lateAPost.size) return { ok: true } // B more lenient: rows may legitimately differ

  const emptyResult = JSON.stringify(aggregator.result(aggregator.empty()))
  const sinkA = new Map<string, string>()
  const writtenA = new Map<string, Set<string>>()
  for (const o of [...outPre, ...outPost]) {
    for (const f of o.fired) {
      const v = JSON.stringify(f.result)
      sinkA.set(id(f), v)
      if (!writtenA.has(id(f))) writtenA.set(id(f), new Set())
      writtenA.get(id(f))!.add(v)
    }
  }
  const sinkB = new Map<string, string>()
  for (const o of outPre) for (const f of o.fired) sinkB.set(id(f), JSON.stringify(f.result))
  for (let i = 0; i < outB.length; i++) {
    for (const f of outB[i]!.fired) {
      const v = JSON.stringify(f.result)
      if (v !== emptyResult && !(writtenA.get(id(f))?.has(v) ?? false)) {
        return { ok: false, reason: `after the restart (item ${i}) ${f.kind} ${id(f)} = ${v}, never written by A` }
      }
      sinkB.set(id(f), v)
    }
  }
  for (const [k, v] of sinkA) {
    if (sinkB.get(k) !== v) return { ok: false, reason: `row ${k}: expected ${v}, got ${sinkB.get(k)}` }
  }
  for (const [k, v] of sinkB) {
    if (!sinkA.has(k) && v !== emptyResult) return { ok: false, reason: `extra row ${k} ${v}` }
  }
  return { ok: true }
}

const Percents = Arbitrary.array(Arbitrary.schema(Int(0, 100)), { minLength: 4, maxLength: 4 })
const Choices = Arbitrary.array(Arbitrary.schema(Int(0, 11)), { maxLength: 40 })

describe("WindowEngine: several partitions restart at different points, replays interleaved", () => {
  it.prop("aligned windows", {
    c: Common,
    partitions: Int(2, 4),
    useSliding: Schema.Boolean,
    // out-of-orderness above the generator's disorder (jitter ±12): nothing is ever late
    ordered: Schema.Boolean,
    evs: events,
    crashAt: Int(0, 100),
    ckAt: Percents,
    choices: Choices
  }, ({ c, ckAt, choices, crashAt, evs, ordered, partitions, useSliding }) => {
    const base = alignedConfig({ ...c, partitions }, useSliding ? "sliding" : "tumbling")
    const cfg = noIdle(ordered ? { ...base, outOfOrdernessMs: 25 } : base)
    const r = multiRestartCheck(cfg, buildSteps(cfg.partitions, evs, 0), crashAt, ckAt, choices)
    assert.isTrue(r.ok, r.reason)
  }, { arbitrary: { runs: 1000 } })
})

// --- examples -------------------------------------------------------------------------------------

const rec = (offset: number, eventTime: number, key: string, value = 1) => ({ offset, eventTime, key, value })
const MIN = 60_000

describe("WindowEngine examples", () => {
  it("per-minute counts fire when the watermark passes the window end", () => {
    const e = makeWindowEngine({ assigner: tumbling(MIN), aggregator: Agg.count, outOfOrdernessMs: 0 })
    e.assign(0)
    assert.deepStrictEqual(e.process(0, [rec(0, 1000, "a"), rec(1, 59_999, "a"), rec(2, 30_000, "b")], 0).fired, [])
    const { fired } = e.process(0, [rec(3, MIN, "a")], 0)
    assert.deepStrictEqual(fired, [
      { partition: 0, key: "a", window: { start: 0, end: MIN }, result: 2, kind: "final" },
      { partition: 0, key: "b", window: { start: 0, end: MIN }, result: 1, kind: "final" }
    ])
    assert.strictEqual(e.safeOffset(0), 3)
    assert.deepStrictEqual(e.checkpoint(0), {
      offset: 3,
      watermark: MIN,
      partitionWatermark: MIN,
      endOffset: 4,
      idle: false
    })
  })

  it("allowed lateness: update while kept, late exactly once after purge", () => {
    const e = makeWindowEngine({
      assigner: tumbling(MIN),
      aggregator: Agg.count,
      outOfOrdernessMs: 0,
      allowedLatenessMs: 30_000
    })
    e.assign(0)
    e.process(0, [rec(0, 10, "a"), rec(1, MIN + 1, "a")], 0) // final [0,1m) = 1
    const upd = e.process(0, [rec(2, 20, "a"), rec(3, 30, "a")], 0)
    assert.deepStrictEqual(upd.fired.map((f) => [f.kind, f.result]), [["update", 3]])
    assert.strictEqual(e.safeOffset(0), 0) // [0,1m) still kept
    e.process(0, [rec(4, 90_000, "a")], 0) // watermark 90s = end + lateness: purged
    const late = e.process(0, [rec(5, 40, "a")], 0)
    assert.deepStrictEqual(late.fired, [])
    assert.deepStrictEqual(late.late, [{
      partition: 0,
      record: rec(5, 40, "a"),
      missedWindows: [{ start: 0, end: MIN }]
    }])
    assert.strictEqual(e.safeOffset(0), 1)
  })

  it("sliding: a record late for some windows is reported once and still counts in open ones", () => {
    const e = makeWindowEngine({ assigner: sliding(10, 5), aggregator: Agg.count, outOfOrdernessMs: 0 })
    e.assign(0)
    e.process(0, [rec(0, 12, "a")], 0) // watermark 12: [0,10) gone
    const out = e.process(0, [rec(1, 7, "a")], 0) // windows [5,15) open, [0,10) purged
    assert.deepStrictEqual(out.late.map((l) => l.missedWindows), [[{ start: 0, end: 10 }]])
    const fired = e.process(0, [rec(2, 15, "a")], 0).fired
    assert.deepStrictEqual(fired.map((f) => [f.window.start, f.result]), [[5, 2]])
  })

  it("emitEmptyAfterActivity: one empty firing after activity stops, then the key is forgotten", () => {
    const e = makeWindowEngine({
      assigner: sliding(10 * MIN, MIN),
      aggregator: Agg.combine({ count: Agg.count, mean: Agg.mean, stddev: Agg.stddev }),
      outOfOrdernessMs: 0,
      emitEmptyAfterActivity: true
    })
    e.assign(0)
    e.process(0, [rec(0, 30_000, "card")], 0)
    const out = e.process(0, [rec(1, 30 * MIN, "other")], 0).fired.filter((f) => f.key === "card")
    // windows [-9m,1m) ... [0,10m) contain the record; [1m,11m) is the first empty one
    assert.strictEqual(out.length, 11)
    assert.deepStrictEqual(out.at(-1), {
      partition: 0,
      key: "card",
      window: { start: MIN, end: 11 * MIN },
      result: { count: 0, mean: null, stddev: null },
      kind: "empty"
    })
    assert.deepStrictEqual(e.process(0, [rec(2, 60 * MIN, "other")], 0).fired.filter((f) => f.key === "card"), [])
  })

  it("revoke drops the partition's state; restored watermark skips replayed records", () => {
    const e = makeWindowEngine({ assigner: tumbling(10), aggregator: Agg.count, outOfOrdernessMs: 0 })
    e.assign(0)
    e.process(0, [rec(0, 1, "a"), rec(1, 12, "a"), rec(2, 15, "a")], 0)
    assert.strictEqual(e.stats().openKeyWindows, 1)
    const cp = e.checkpoint(0)!
    assert.deepStrictEqual(cp, { offset: 1, watermark: 15, partitionWatermark: 15, endOffset: 3, idle: false })
    e.revoke(0)
    assert.strictEqual(e.stats().openKeyWindows, 0)
    // the new owner replays from offset 0 (e.g. an older commit): offset 0 is replayed, not late
    e.assign(0, { restoredWatermark: cp.watermark, replayEndOffset: cp.endOffset })
    const out = e.process(0, [rec(0, 1, "a"), rec(1, 12, "a"), rec(2, 15, "a"), rec(3, 21, "a")], 0)
    assert.deepStrictEqual(out.late, [])
    assert.deepStrictEqual(out.fired.map((f) => [f.window.start, f.result]), [[10, 2]])
    assert.strictEqual(e.stats().replayed, 1)
    // after replayEndOffset the normal rules apply again
    assert.strictEqual(e.process(0, [rec(4, 2, "a")], 0).late.length, 1)
  })

  it("a replaying partition is judged against its restored watermark even when idle; W_p restored at the end", () => {
    const e = makeWindowEngine({
      assigner: tumbling(10),
      aggregator: Agg.count,
      outOfOrdernessMs: 0,
      idleTimeoutMs: 100
    })
    e.assign(0)
    e.assign(1, { restoredWatermark: 10, restoredPartitionWatermark: 30, replayEndOffset: 5 })
    e.process(0, [rec(0, 50, "a")], 0)
    assert.strictEqual(e.watermark(), 10) // p1's restored W_p (30) waits for the end of its replay
    e.onProcessingTime(200) // p1's fetch is slow: idle, W moves on without it
    assert.strictEqual(e.watermark(), 50)
    assert.strictEqual(e.effectiveWatermark(1), 10) // but p1 is still replaying: E_1 is held
    const replayed = e.process(1, [rec(2, 15, "b"), rec(3, 18, "b")], 201)
    assert.deepStrictEqual([replayed.late, replayed.fired], [[], []])
    // A checkpoint taken mid-replay still carries the restored W_p and the replay's end.
    assert.deepStrictEqual(e.checkpoint(1), {
      offset: 2,
      watermark: 10,
      partitionWatermark: 30,
      endOffset: 5,
      idle: false
    })
    const done = e.process(1, [rec(4, 19, "b")], 202)
    assert.strictEqual(e.partitionWatermark(1), 30)
    assert.deepStrictEqual(done.fired.map((f) => [f.key, f.window.start, f.result]), [["b", 10, 3]])
    assert.deepStrictEqual(e.checkpoint(1), {
      offset: 5,
      watermark: 30,
      partitionWatermark: 30,
      endOffset: 5,
      idle: false
    })
  })

  it("idle partitions stop holding back the pipeline watermark", () => {
    const e = makeWindowEngine({
      assigner: tumbling(10),
      aggregator: Agg.count,
      outOfOrdernessMs: 0,
      idleTimeoutMs: 100
    })
    e.assign(0)
    e.assign(1)
    assert.deepStrictEqual(e.process(0, [rec(0, 5, "a"), rec(1, 25, "a")], 0).fired, [])
    assert.strictEqual(e.watermark(), -Infinity)
    assert.deepStrictEqual(e.onProcessingTime(100).fired, [])
    assert.deepStrictEqual(e.onProcessingTime(101).fired.map((f) => f.window.start), [0])
    assert.strictEqual(e.watermark(), 25)
    // partition 1 wakes up with older data: the watermark goes back to it, windows never un-fire
    e.process(1, [rec(0, 21, "b")], 102)
    assert.strictEqual(e.watermark(), 21)
    assert.strictEqual(e.effectiveWatermark(0), 25)
    assert.strictEqual(e.process(1, [rec(1, 3, "b")], 103).late.length, 1)
  })

  it("a stream resuming after every partition went quiet: the partition read a fetch later is not late", () => {
    const e = makeWindowEngine({
      assigner: tumbling(10),
      aggregator: Agg.count,
      outOfOrdernessMs: 0,
      idleTimeoutMs: 100
    })
    e.assign(0)
    e.assign(1)
    e.process(0, [rec(0, 3, "a")], 0)
    e.process(1, [rec(0, 4, "b")], 0)
    e.onProcessingTime(500) // a pause (upstream stopped, or the broker was down): both idle
    // Both partitions got records of the same moment; partition 0's are read first.
    e.process(0, [rec(1, 12, "a"), rec(2, 45, "a")], 501)
    assert.strictEqual(e.watermark(), 4, "partition 1 holds the watermark for one idle timeout")
    const second = e.process(1, [rec(1, 15, "b"), rec(2, 44, "b")], 502)
    assert.deepStrictEqual(second.late, [])
    assert.deepStrictEqual(second.fired.map((f) => [f.key, f.window.start, f.result]), [
      ["a", 0, 1],
      ["b", 0, 1],
      ["a", 10, 1],
      ["b", 10, 1]
    ])
    // A partition that really stays quiet is idle again after the timeout.
    e.process(0, [rec(3, 70, "a")], 560)
    assert.strictEqual(e.watermark(), 44)
    e.onProcessingTime(603)
    assert.strictEqual(e.watermark(), 70)
  })

  it("session windows merge and fire after the gap", () => {
    const e = makeWindowEngine({ assigner: session(10), aggregator: Agg.count, outOfOrdernessMs: 30 })
    e.assign(0)
    e.process(0, [rec(0, 0, "u"), rec(1, 25, "u"), rec(2, 12, "u")], 0)
    assert.strictEqual(e.stats().openKeyWindows, 3) // [0,10), [12,22), [25,35)
    const out = e.process(0, [rec(3, 5, "u"), rec(4, 100, "v")], 0)
    // [5,15) bridges [0,10) and [12,22); [25,35) stays apart (22 < 25)
    assert.deepStrictEqual(out.fired.map((f) => [f.key, f.window, f.result, f.kind]), [
      ["u", { start: 0, end: 22 }, 3, "final"],
      ["u", { start: 25, end: 35 }, 1, "final"]
    ])
  })

  it("stays fast: tumbling count over a large batch", () => {
    const e = makeWindowEngine({ assigner: tumbling(MIN), aggregator: Agg.count, outOfOrdernessMs: 5000 })
    e.assign(0)
    const n = 200_000
    const batch = Array.from({ length: n }, (_, i) => ({ offset: i, eventTime: i * 10, key: `k${i % 1000}`, value: 1 }))
    e.process(0, batch.slice(0, 1000), 0) // warm-up
    const t0 = performance.now()
    let fired = 0
    for (let i = 1000; i < n; i += 1000) fired += e.process(0, batch.slice(i, i + 1000), 0).fired.length
    const perRecord = ((performance.now() - t0) * 1000) / (n - 1000)
    assert.isAbove(fired, 0)
    assert.isBelow(perRecord, 5, `${perRecord.toFixed(3)} µs/record`)
  })
})
