import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import { PipelineStats } from "../../src/observability/PipelineStats.ts"

describe("PipelineStats tallies", () => {
  it.effect("tallyAll adds a whole batch in one effect: per key, 1 each or the item's amount", () =>
    Effect.gen(function*() {
      const stats = new PipelineStats("p", yield* Clock.Clock)
      const rows = [{ type: "click", amount: 2.5 }, { type: "view", amount: 1 }, { type: "click", amount: 0.5 }]
      yield* stats.tallyAll("events per type", rows, (r) => r.type)
      yield* stats.tallyAll("amount per type", rows, (r) => r.type, (r) => r.amount)
      yield* stats.tally("events per type", "view", 2)
      assert.deepStrictEqual([...stats.tallies.get("events per type")!], [["click", 2], ["view", 3]])
      assert.deepStrictEqual([...stats.tallies.get("amount per type")!], [["click", 3], ["view", 1]])
    }))

  it.effect("a chart keeps at most 200 keys; known keys still count", () =>
    Effect.gen(function*() {
      const stats = new PipelineStats("p", yield* Clock.Clock)
      const keys = Array.from({ length: 250 }, (_, i) => `k${i}`)
      yield* stats.tallyAll("many", keys, (k) => k)
      yield* stats.tallyAll("many", ["k0", "k249"], (k) => k)
      const chart = stats.tallies.get("many")!
      assert.strictEqual(chart.size, 200)
      assert.strictEqual(chart.get("k0"), 2)
      assert.isFalse(chart.has("k249"))
    }))
})

describe("PipelineStats reporting", () => {
  it.effect("figures change when the returned effect runs (once per run), not when it is built", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 second")
      const stats = new PipelineStats("p", yield* Clock.Clock)
      assert.strictEqual(stats.startedAt, 1_000)
      const tp = { topic: "t", partition: 0 }
      const consumed = stats.consumed(5, { ...tp, lastOffset: "4" })
      const written = stats.written([{ a: 1 }], tp)
      const rejected = stats.rejected(2, "drop")
      const late = stats.lateArrivals(3)
      const assigned = stats.assignment("Assigned", [tp])
      const committed = stats.committed([{ ...tp, offset: "5" }], 7)
      const failed = stats.failed("commit")
      const figures = () => [
        stats.recordsIn,
        stats.recordsOut,
        stats.dropped,
        stats.late,
        stats.rebalances,
        stats.commits,
        stats.errorCounts.get("commit"),
        stats.assigned.size,
        stats.partitions.size
      ]
      assert.deepStrictEqual(figures(), [0, 0, 0, 0, 0, 0, undefined, 0, 0])
      assert.isUndefined(stats.lastProgressAt)

      yield* TestClock.adjust("2 seconds")
      yield* Effect.all([consumed, consumed, written, rejected, late, assigned, committed, failed])
      assert.deepStrictEqual(figures(), [10, 1, 2, 3, 1, 1, 1, 1, 1])
      assert.strictEqual(stats.partitions.get("t:0")!.recordsIn, 10)
      assert.strictEqual(stats.partitions.get("t:0")!.committedOffset, "5")
      assert.strictEqual(stats.lastProgressAt, 3_000)
      assert.strictEqual(stats.lastCommitAt, 3_000)
    }))
})
