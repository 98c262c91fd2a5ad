import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { ThroughputSampler } from "../../src/observability/ThroughputSampler.ts"

const testLayer = ThroughputSampler.layer.pipe(Layer.provideMerge(PipelineRegistry.layer))

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ i }))

describe("ThroughputSampler on the virtual clock (one sample per second)", () => {
  it.effect("rates cover the last 5 s of samples; the chart keeps one point per second", () =>
    Effect.gen(function*() {
      const stats = yield* (yield* PipelineRegistry).register("rates")
      const sampler = yield* ThroughputSampler
      const from = { topic: "t", partition: 0 }
      // Samples are taken at 0 s, 1 s, 2 s...; each batch lands half-way between two of them.
      yield* TestClock.adjust("500 millis")
      // 5 s at 100 records in (and 40 rows out) per second, then 5 s at 400 in (160 out).
      for (const perSecond of [100, 100, 100, 100, 100, 400, 400, 400, 400, 400]) {
        yield* stats.consumed(perSecond, from)
        yield* stats.written(rows((perSecond * 2) / 5))
        yield* TestClock.adjust("1 second")
      }
      // Now 10.5 s: the rate runs from the sample at 5 s to the one at 10 s, all of it at the new pace.
      const now = (yield* sampler.current)("rates")
      assert.strictEqual(now.inPerSecond, 400)
      assert.strictEqual(now.outPerSecond, 160)
      assert.strictEqual(now.partitionInPerSecond("t:0"), 400)
      assert.strictEqual(now.partitionInPerSecond("t:1"), 0)
      // Each chart point is the rate since the sample before, stamped with the virtual time of its sample.
      assert.deepStrictEqual(now.history.slice(-6), [
        { t: 5_000, in: 100, out: 40 },
        { t: 6_000, in: 400, out: 160 },
        { t: 7_000, in: 400, out: 160 },
        { t: 8_000, in: 400, out: 160 },
        { t: 9_000, in: 400, out: 160 },
        { t: 10_000, in: 400, out: 160 }
      ])
    }).pipe(Effect.provide(testLayer)))

  it.effect("a rate mixes the paces inside its window, and drops to 0 once the window holds no progress", () =>
    Effect.gen(function*() {
      const stats = yield* (yield* PipelineRegistry).register("window")
      const sampler = yield* ThroughputSampler
      yield* TestClock.adjust("500 millis")
      for (const perSecond of [100, 100, 100, 100, 100, 400, 400]) {
        yield* stats.consumed(perSecond)
        yield* TestClock.adjust("1 second")
      }
      // Now 7.5 s: from the sample at 2 s (200 in) to the one at 7 s (500 + 2 × 400 = 1300 in), over 5 s.
      assert.strictEqual((yield* sampler.current)("window").inPerSecond, (1_300 - 200) / 5)

      // Nothing more: after 5 s without progress the window holds equal samples only.
      yield* TestClock.adjust("4 seconds")
      assert.isAbove((yield* sampler.current)("window").inPerSecond, 0)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* sampler.current)("window").inPerSecond, 0)
      const history = (yield* sampler.current)("window").history
      assert.deepStrictEqual(history.slice(-2), [{ t: 11_000, in: 0, out: 0 }, { t: 12_000, in: 0, out: 0 }])
    }).pipe(Effect.provide(testLayer)))

  it.effect("a pipeline not sampled yet reads as idle", () =>
    Effect.gen(function*() {
      const sampler = yield* ThroughputSampler
      const unknown = (yield* sampler.current)("never-registered")
      assert.deepStrictEqual([unknown.inPerSecond, unknown.outPerSecond, unknown.history], [0, 0, []])
    }).pipe(Effect.provide(testLayer)))
})
