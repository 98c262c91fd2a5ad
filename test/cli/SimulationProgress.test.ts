import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { formatDuration, progressLine } from "../../src/cli/SimulationProgress.ts"

describe("simulate's progress line", () => {
  it("shows count, share, rate and the time left at the average rate", () => {
    assert.strictEqual(
      progressLine({
        input: "transactions",
        published: 12_345,
        total: Option.some(100_000),
        recentPerSecond: 1_000.4,
        elapsedMs: 12_345
      }),
      "transactions: 12,345 / 100,000 records (12%), 1,000/s, ETA 1m28s"
    )
    assert.strictEqual(
      progressLine({ input: "sensors", published: 10, total: Option.some(10), recentPerSecond: 5, elapsedMs: 2_000 }),
      "sensors: 10 / 10 records (100%), 5/s, done"
    )
    // Unbounded runs have no end to estimate.
    assert.strictEqual(
      progressLine({ input: "sensors", published: 500, total: Option.none(), recentPerSecond: 50, elapsedMs: 10_000 }),
      "sensors: 500 records published, 50/s"
    )
    assert.strictEqual(formatDuration(7_200_000 + 300_000), "2h05m")
    assert.strictEqual(formatDuration(42_400), "42s")
  })
})
