import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as Agg from "../../src/window/Aggregator.ts"
import { tumbling } from "../../src/window/WindowAssigner.ts"
import { makeWindowEngine } from "../../src/window/WindowEngine.ts"
import * as WindowTimer from "../../src/window/WindowTimer.ts"

const SEC = 1000
const rec = (offset: number, eventTime: number, key: string) => ({ offset, eventTime, key, value: 1 })

const makeEngine = () => {
  const engine = makeWindowEngine({
    assigner: tumbling(60 * SEC),
    aggregator: Agg.count,
    outOfOrdernessMs: 0,
    idleTimeoutMs: 30 * SEC
  })
  engine.assign(0)
  engine.assign(1) // never receives anything
  return engine
}

// Advance one timer interval at a time so the forked timer fiber re-arms its sleep between steps
// (one big TestClock.adjust only wakes the sleeps already registered).
const advanceSeconds = (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* TestClock.adjust("1 second")
  })

describe("WindowTimer (TestClock)", () => {
  it.effect("an idle partition holds the watermark back until the idle timeout", () =>
    Effect.gen(function*() {
      const engine = makeEngine()
      assert.strictEqual(yield* Clock.currentTimeMillis, 0)
      const first = yield* WindowTimer.processBatch(engine, 0, [rec(0, 10 * SEC, "eq-1"), rec(1, 70 * SEC, "eq-1")])
      assert.deepStrictEqual(first.fired, [])

      yield* TestClock.adjust("30 seconds") // idle for exactly the timeout: not yet idle
      assert.deepStrictEqual((yield* WindowTimer.tick(engine)).fired, [])
      assert.strictEqual(engine.watermark(), -Infinity)

      yield* TestClock.adjust("1 millis") // now idle longer than the timeout
      const fired = (yield* WindowTimer.tick(engine)).fired
      assert.deepStrictEqual(fired.map((f) => [f.key, f.window.start, f.result, f.kind]), [["eq-1", 0, 1, "final"]])
      assert.strictEqual(engine.watermark(), 70 * SEC)
    }))

  it.effect("the forked timer fires windows once partition 1 is idle, and not before", () =>
    Effect.gen(function*() {
      const engine = makeEngine()
      const out = yield* Ref.make<Array<string>>([])
      yield* WindowTimer.processBatch(engine, 0, [rec(0, 5 * SEC, "a"), rec(1, 61 * SEC, "b")])
      yield* Effect.forkChild(
        WindowTimer.runTimer(engine, "1 second", (r) =>
          Ref.update(out, (xs) => [
            ...xs,
            ...r.fired.map((f) => `${f.key}@${f.window.start}`)
          ]))
      )
      yield* advanceSeconds(30)
      assert.deepStrictEqual(yield* Ref.get(out), []) // 30 s idle is not "longer than" 30 s
      yield* advanceSeconds(1)
      assert.deepStrictEqual(yield* Ref.get(out), ["a@0"])
      // Partition 1 wakes up with data older than the watermark (61 s, both partitions were idle):
      // it is reported late, not dropped, and partition 1 holds the pipeline watermark again.
      const woke = yield* WindowTimer.processBatch(engine, 1, [rec(0, 50 * SEC, "c")])
      assert.deepStrictEqual(woke.late.map((l) => [l.record.key, l.missedWindows]), [["c", [{
        start: 0,
        end: 60 * SEC
      }]]])
      assert.strictEqual(engine.watermark(), 50 * SEC)
      assert.strictEqual(engine.effectiveWatermark(0), 61 * SEC) // windows never un-fire
      yield* advanceSeconds(30)
      assert.strictEqual(engine.watermark(), 50 * SEC)
      yield* advanceSeconds(1)
      assert.strictEqual(engine.watermark(), 61 * SEC)
      assert.deepStrictEqual(yield* Ref.get(out), ["a@0"])
    }))
})
