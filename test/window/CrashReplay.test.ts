import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Agg from "../../src/window/Aggregator.ts"
import { session, sliding, tumbling } from "../../src/window/WindowAssigner.ts"
import { makeWindowEngine } from "../../src/window/WindowEngine.ts"
import { crashReplayCheck } from "./CrashReplay.ts"
import { buildSteps, events, type RefConfig } from "./Reference.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

// The generator's disorder (jitter ±12) exceeds small out-of-orderness and lateness: many records are
// more out of order than the bound, some beyond the allowed lateness too.
const Scenario = Schema.Struct({
  size: Int(4, 30),
  slideDiv: Int(1, 4),
  ooo: Int(0, 15),
  lateness: Int(0, 25),
  partitions: Int(1, 3),
  emitEmpty: Schema.Boolean,
  crashAt: Int(0, 100),
  commitAt: Schema.Array(Int(0, 100)),
  sameBatches: Schema.Boolean,
  batchSizes: Schema.Array(Int(1, 5)),
  choices: Schema.Array(Int(0, 11))
})
type Scenario = typeof Scenario.Type

const config = (s: Scenario, assigner: RefConfig["assigner"]): RefConfig => ({
  assigner,
  outOfOrdernessMs: s.ooo,
  allowedLatenessMs: s.lateness,
  idleTimeoutMs: Infinity,
  emitEmpty: s.emitEmpty && assigner._tag === "Aligned",
  partitions: s.partitions
})

describe("WindowEngine: restart from a checkpoint older than the rows written (crash, revocation)", () => {
  it.prop("aligned windows: the sink never ends poorer, and ends as without the crash", {
    s: Scenario,
    useSliding: Schema.Boolean,
    evs: events
  }, ({ evs, s, useSliding }) => {
    const cfg = config(s, useSliding ? sliding(s.size, Math.max(1, Math.floor(s.size / s.slideDiv))) : tumbling(s.size))
    const r = crashReplayCheck(cfg, buildSteps(cfg.partitions, evs, 0), s, true)
    assert.isTrue(r.ok, r.reason)
  }, { arbitrary: { runs: 1000 } })

  it.prop("session windows: the sink never ends poorer", { s: Scenario, gap: Int(1, 15), evs: events }, (
    { evs, gap, s }
  ) => {
    const cfg = config(s, session(gap))
    const r = crashReplayCheck(cfg, buildSteps(cfg.partitions, evs, 0), s, false)
    assert.isTrue(r.ok, r.reason)
  }, { arbitrary: { runs: 2000 } })

  // Found by the property above, before a record was judged against its own partition's watermark.
  it("a record more out of order than the bound, read after the committed checkpoint", () => {
    const rec = (offset: number, eventTime: number, key: string) => ({ offset, eventTime, key, value: 1 })
    const make = () => makeWindowEngine({ assigner: tumbling(4), aggregator: Agg.count, outOfOrdernessMs: 0 })
    const a = make()
    a.assign(0)
    a.assign(1)
    a.process(0, [rec(0, 1, "x")], 0)
    a.process(1, [rec(0, 3, "k")], 0)
    a.process(1, [rec(1, 16, "k")], 0)
    const committed = [a.checkpoint(0)!, a.checkpoint(1)!] // the last commits before the crash
    // Partition 0 holds the pipeline watermark at 1, but t=2 is 14 ms behind partition 1's records:
    // late, whatever partition 0 does (it used to count in [0,4), and a restart that found partition 0
    // ahead re-wrote [0,4) without it).
    assert.strictEqual(a.process(1, [rec(2, 2, "k")], 0).late.length, 1)
    a.process(1, [rec(3, 18, "k")], 0)
    const written = a.process(0, [rec(1, 31, "y")], 0).fired.filter((f) => f.key === "k" && f.window.start === 0)
    assert.deepStrictEqual(written.map((f) => f.result), [1])

    const b = make()
    committed.forEach((c, p) =>
      b.assign(p, {
        restoredWatermark: c.watermark,
        restoredPartitionWatermark: c.partitionWatermark,
        replayEndOffset: c.endOffset
      })
    )
    b.process(0, [rec(0, 1, "x"), rec(1, 31, "y")], 1)
    const replayed = b.process(1, [rec(0, 3, "k"), rec(1, 16, "k")], 1) // the replay ends: W = 16
    const again = replayed.fired.filter((f) => f.key === "k" && f.window.start === 0)
    assert.deepStrictEqual(again.map((f) => f.result), [1], "the row written before the crash")
    const read = b.process(1, [rec(2, 2, "k"), rec(3, 18, "k")], 1)
    assert.deepStrictEqual(read.late.map((l) => l.record.offset), [2])
  })
})
