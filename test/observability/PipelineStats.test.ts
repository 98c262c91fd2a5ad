import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { PipelineStats } from "../../src/observability/PipelineStats.ts"

describe("PipelineStats tallies", () => {
  it.effect("tallyAll adds a whole batch in one effect: per key, 1 each or the item's amount", () =>
    Effect.gen(function*() {
      const stats = new PipelineStats("p")
      const rows = [{ type: "click", amount: 2.5 }, { type: "view", amount: 1 }, { type: "click", amount: 0.5 }]
      yield* stats.tallyAll("events per type", rows, (r) => r.type)
      yield* stats.tallyAll("amount per type", rows, (r) => r.type, (r) => r.amount)
      yield* stats.tally("events per type", "view", 2)
      assert.deepStrictEqual([...stats.tallies.get("events per type")!], [["click", 2], ["view", 3]])
      assert.deepStrictEqual([...stats.tallies.get("amount per type")!], [["click", 3], ["view", 1]])
    }))

  it.effect("a chart keeps at most 200 keys; known keys still count", () =>
    Effect.gen(function*() {
      const stats = new PipelineStats("p")
      const keys = Array.from({ length: 250 }, (_, i) => `k${i}`)
      yield* stats.tallyAll("many", keys, (k) => k)
      yield* stats.tallyAll("many", ["k0", "k249"], (k) => k)
      const chart = stats.tallies.get("many")!
      assert.strictEqual(chart.size, 200)
      assert.strictEqual(chart.get("k0"), 2)
      assert.isFalse(chart.has("k249"))
    }))
})
