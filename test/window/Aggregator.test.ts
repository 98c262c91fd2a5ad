import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Agg from "../../src/window/Aggregator.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const Values = Schema.Array(Int(-1_000_000, 1_000_000))

const fold = <V, Acc, Out>(agg: Agg.Aggregator<V, Acc, Out>, values: ReadonlyArray<V>): Acc => {
  let acc = agg.empty()
  for (const v of values) acc = agg.add(acc, v)
  return acc
}

const EPS = Number.EPSILON

const close = (a: number | null, b: number | null, rel = 1e-9): boolean =>
  a === null || b === null ? a === b : Math.abs(a - b) <= rel * Math.max(1, Math.abs(b))

// Two-pass reference.
const twoPass = (xs: ReadonlyArray<number>) => {
  const n = xs.length
  const mean = n === 0 ? null : xs.reduce((s, x) => s + x, 0) / n
  const variance = n < 2 ? null : xs.reduce((s, x) => s + (x - mean!) ** 2, 0) / (n - 1)
  return { mean, variance, stddev: variance === null ? null : Math.sqrt(variance) }
}

const exactMedian = (xs: ReadonlyArray<number>): number | null => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return null
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}

const all = Agg.combine({
  count: Agg.count,
  sum: Agg.sum,
  min: Agg.min,
  max: Agg.max,
  median: Agg.median,
  mean: Agg.mean,
  variance: Agg.variance,
  stddev: Agg.stddev,
  moments: Agg.moments
})

describe("Aggregator", () => {
  it.prop("merge(a, b) equals aggregating the concatenation", { xs: Values, ys: Values }, ({ xs, ys }) => {
    const merged = all.result(all.merge(fold(all, xs), fold(all, ys)))
    const direct = all.result(fold(all, [...xs, ...ys]))
    assert.strictEqual(merged.count, direct.count)
    assert.strictEqual(merged.sum, direct.sum)
    assert.strictEqual(merged.min, direct.min)
    assert.strictEqual(merged.max, direct.max)
    assert.strictEqual(merged.median, direct.median)
    assert.isTrue(close(merged.mean, direct.mean), `mean ${merged.mean} vs ${direct.mean}`)
    assert.isTrue(close(merged.variance, direct.variance), `variance ${merged.variance} vs ${direct.variance}`)
    assert.isTrue(close(merged.stddev, direct.stddev), `stddev ${merged.stddev} vs ${direct.stddev}`)
    assert.strictEqual(merged.moments.count, direct.moments.count)
    assert.isTrue(close(merged.moments.stddev, direct.moments.stddev))
  })

  it.prop("merge does not mutate its second argument", { xs: Values, ys: Values }, ({ xs, ys }) => {
    const b = fold(all, ys)
    const before = JSON.stringify(all.result(b))
    all.merge(fold(all, xs), b)
    assert.strictEqual(JSON.stringify(all.result(b)), before)
  })

  // Large common offset (like epoch-ms timestamps or amounts): a naive sum-of-squares variance
  // would lose most digits here; Welford must match the two-pass result closely.
  it.prop(
    "mean / sample variance / stddev match a two-pass reference",
    { xs: Schema.Array(Int(-1000, 1000)), offset: Int(0, 1_000_000_000), scaleExp: Int(-3, 3) },
    ({ xs, offset, scaleExp }) => {
      const values = xs.map((x) => offset + x * 10 ** scaleExp)
      const ref = twoPass(values)
      const half = Math.floor(values.length / 2)
      // both the sequential and the merged (Chan) paths
      const seq = Agg.moments.result(fold(Agg.moments, values))
      const par = Agg.moments.result(
        Agg.moments.merge(fold(Agg.moments, values.slice(0, half)), fold(Agg.moments, values.slice(half)))
      )
      for (const r of [seq, par]) {
        assert.strictEqual(r.count, values.length)
        assert.isTrue(close(r.mean, ref.mean, 1e-12), `mean ${r.mean} vs ${ref.mean}`)
        // Welford's error grows like eps * |mean| / stddev (the rounding of the running mean);
        // sum-of-squares would grow like eps * (|mean| / stddev)^2 and fail this bound.
        if (ref.stddev === null || ref.stddev === 0) {
          assert.isTrue(r.stddev === ref.stddev || Math.abs(r.stddev!) <= 1e-6 * Math.max(1, Math.abs(ref.mean!)) * EPS)
        } else {
          const tol = 64 * EPS * (1 + Math.abs(ref.mean!) / ref.stddev)
          assert.isTrue(Math.abs(r.stddev! - ref.stddev) <= tol * ref.stddev, `${r.stddev} vs ${ref.stddev}`)
        }
      }
    }
  )

  it.prop("median is exact (odd and even counts)", { xs: Values }, ({ xs }) => {
    assert.strictEqual(Agg.median.result(fold(Agg.median, xs)), exactMedian(xs))
  })

  it("documented edge cases", () => {
    assert.deepStrictEqual(all.result(all.empty()), {
      count: 0,
      sum: 0,
      min: null,
      max: null,
      median: null,
      mean: null,
      variance: null,
      stddev: null,
      moments: { count: 0, mean: null, variance: null, stddev: null }
    })
    const one = all.result(fold(all, [42]))
    assert.strictEqual(one.stddev, null) // sample std-dev needs 2 values
    assert.strictEqual(one.median, 42)
    assert.strictEqual(Agg.median.result(fold(Agg.median, [4, 1, 3, 2])), 2.5)
    assert.strictEqual(Agg.stddev.result(fold(Agg.stddev, [2, 4, 4, 4, 5, 5, 7, 9])), Math.sqrt(32 / 7))
  })

  it("contramap and grouped: per-sensor stats of an equipment", () => {
    interface Reading {
      readonly sensor: string
      readonly value: number | undefined
    }
    const stats = Agg.combine({ min: Agg.min, max: Agg.max, median: Agg.median, mean: Agg.mean, std_dev: Agg.stddev })
    const perSensor = Agg.grouped((r: Reading) => r.sensor, Agg.contramap(stats, (r: Reading) => r.value))
    const readings: Array<Reading> = [
      { sensor: "temp", value: 20 },
      { sensor: "rpm", value: 1000 },
      { sensor: "temp", value: 22 },
      { sensor: "rpm", value: undefined },
      { sensor: "temp", value: 24 }
    ]
    assert.deepStrictEqual(Agg.aggregateAll(perSensor, readings), {
      rpm: { min: 1000, max: 1000, median: 1000, mean: 1000, std_dev: null },
      temp: { min: 20, max: 24, median: 22, mean: 22, std_dev: 2 }
    })
    const merged = perSensor.merge(fold(perSensor, readings.slice(0, 2)), fold(perSensor, readings.slice(2)))
    assert.deepStrictEqual(perSensor.result(merged), Agg.aggregateAll(perSensor, readings))
  })
})
