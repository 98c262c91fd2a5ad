/**
 * Mergeable aggregators (a commutative monoid plus a projection).
 *
 * `merge` is what makes an aggregator usable for session windows (merging sessions) and for
 * combining partial results; `add` is the per-record hot path.
 *
 * Ownership rule (for speed): `add` and `merge` MAY mutate and return their first argument, so
 * callers must always use the returned value and must not reuse an accumulator after passing it as
 * the first argument. `merge` never mutates its second argument. `result` does not change the
 * aggregated multiset (the median sorts its buffer in place, which is harmless).
 *
 * Empty input: `count`/`sum` give 0; `mean`, `min`, `max`, `median` give `null`. Sample variance and
 * sample standard deviation (divisor n - 1) give `null` for fewer than 2 values: a single value has
 * no sample spread, and `null` (not 0, not NaN) survives JSON/Avro as "unknown".
 */

export interface Aggregator<in V, Acc, out Out> {
  readonly empty: () => Acc
  readonly add: (acc: Acc, value: V) => Acc
  readonly merge: (a: Acc, b: Acc) => Acc
  readonly result: (acc: Acc) => Out
}

type AggregatorInput<A> = A extends Aggregator<infer V, any, any> ? V : never
export type AggregatorOutput<A> = A extends Aggregator<any, any, infer O> ? O : never

/** Number of values. */
export const count: Aggregator<unknown, number, number> = {
  empty: () => 0,
  add: (n) => n + 1,
  merge: (a, b) => a + b,
  result: (n) => n
}

/** Plain floating-point sum (exact for integers below 2^53). */
export const sum: Aggregator<number, number, number> = {
  empty: () => 0,
  add: (s, v) => s + v,
  merge: (a, b) => a + b,
  result: (s) => s
}

/** Welford state: count, running mean and sum of squared deviations from the mean. */
export interface Moments {
  n: number
  mean: number
  m2: number
}

const emptyMoments = (): Moments => ({ n: 0, mean: 0, m2: 0 })

// Welford's online update: numerically stable, unlike sum/sum-of-squares which cancels badly for
// values with a large common offset (e.g. epoch timestamps or amounts around 1e9).
const addMoments = (m: Moments, x: number): Moments => {
  const n = m.n + 1
  const d = x - m.mean
  m.n = n
  m.mean += d / n
  m.m2 += d * (x - m.mean)
  return m
}

// Chan et al.'s parallel combination of two Welford states.
const mergeMoments = (a: Moments, b: Moments): Moments => {
  if (b.n === 0) return a
  if (a.n === 0) {
    a.n = b.n
    a.mean = b.mean
    a.m2 = b.m2
    return a
  }
  const n = a.n + b.n
  const d = b.mean - a.mean
  a.mean += d * (b.n / n)
  a.m2 += b.m2 + d * d * (a.n * b.n / n)
  a.n = n
  return a
}

const momentsAggregator = <Out>(result: (m: Moments) => Out): Aggregator<number, Moments, Out> => ({
  empty: emptyMoments,
  add: addMoments,
  merge: mergeMoments,
  result
})

const sampleVariance = (m: Moments): number | null => (m.n < 2 ? null : Math.max(0, m.m2) / (m.n - 1))

/** Arithmetic mean; `null` when empty. */
export const mean: Aggregator<number, Moments, number | null> = momentsAggregator((m) => (m.n === 0 ? null : m.mean))

/** Sample variance (divisor n - 1); `null` for fewer than 2 values. */
export const variance: Aggregator<number, Moments, number | null> = momentsAggregator(sampleVariance)

/** Sample standard deviation (divisor n - 1); `null` for fewer than 2 values. */
export const stddev: Aggregator<number, Moments, number | null> = momentsAggregator((m) => {
  const v = sampleVariance(m)
  return v === null ? null : Math.sqrt(v)
})

export interface MomentsResult {
  readonly count: number
  readonly mean: number | null
  readonly variance: number | null
  readonly stddev: number | null
}

/** count, mean, sample variance and sample std-dev from ONE Welford accumulator. */
export const moments: Aggregator<number, Moments, MomentsResult> = momentsAggregator((m) => {
  const v = sampleVariance(m)
  return { count: m.n, mean: m.n === 0 ? null : m.mean, variance: v, stddev: v === null ? null : Math.sqrt(v) }
})

/** Minimum; `null` when empty. */
export const min: Aggregator<number, number | null, number | null> = {
  empty: () => null,
  add: (a, v) => (a === null || v < a ? v : a),
  merge: (a, b) => (a === null || (b !== null && b < a) ? b : a),
  result: (a) => a
}

/** Maximum; `null` when empty. */
export const max: Aggregator<number, number | null, number | null> = {
  empty: () => null,
  add: (a, v) => (a === null || v > a ? v : a),
  merge: (a, b) => (a === null || (b !== null && b > a) ? b : a),
  result: (a) => a
}

/**
 * Exact median: keeps every value (memory O(n) per key-window; fine for per-minute sensor windows,
 * use an approximate sketch for large windows). Even counts give the mean of the two middle values.
 */
export const median: Aggregator<number, Array<number>, number | null> = {
  empty: () => [],
  add: (a, v) => {
    a.push(v)
    return a
  },
  merge: (a, b) => {
    // A loop, not push(...b): spreading a large array overflows the call stack.
    for (let i = 0; i < b.length; i++) a.push(b[i]!)
    return a
  },
  result: (a) => {
    const n = a.length
    if (n === 0) return null
    a.sort((x, y) => x - y)
    const mid = n >>> 1
    return n % 2 === 1 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2
  }
}

// Input of a combination = intersection of the inputs (`unknown & number` = `number`). Going through
// function parameters avoids `unknown | number` collapsing to `unknown` first.
type CombinedInput<R> = { [K in keyof R]: (v: AggregatorInput<R[K]>) => void }[keyof R] extends (v: infer I) => void ? I
  : never

type AnyAggregator = Aggregator<any, any, any>

/**
 * Several aggregators over the same values at once: `combine({ count, mean, stddev })` gives
 * `{ count: number, mean: number | null, stddev: number | null }`.
 */
export const combine = <const R extends Record<string, AnyAggregator>>(
  aggregators: R
): Aggregator<CombinedInput<R>, Array<unknown>, { [K in keyof R]: AggregatorOutput<R[K]> }> => {
  // The accumulator is an ARRAY indexed like `keys`: the per-record add is a plain indexed loop
  // (an object with computed keys made every access megamorphic, 10x slower for sliding windows).
  const keys = Object.keys(aggregators)
  const aggs = keys.map((k) => aggregators[k]!)
  const n = keys.length
  return {
    empty: () => {
      const acc: Array<unknown> = []
      for (let i = 0; i < n; i++) acc.push(aggs[i]!.empty())
      return acc
    },
    add: (acc, value) => {
      for (let i = 0; i < n; i++) acc[i] = aggs[i]!.add(acc[i], value)
      return acc
    },
    merge: (a, b) => {
      for (let i = 0; i < n; i++) a[i] = aggs[i]!.merge(a[i], b[i])
      return a
    },
    result: (acc) => {
      const out: Record<string, unknown> = {}
      for (let i = 0; i < n; i++) out[keys[i]!] = aggs[i]!.result(acc[i])
      return out as { [K in keyof R]: AggregatorOutput<R[K]> }
    }
  }
}

/**
 * Aggregate a projection of the input, e.g. `contramap(stddev, (t: Txn) => t.amount)`.
 * A projection returning `undefined` skips the record for this aggregator (missing sensor reading).
 */
export const contramap = <V, Acc, Out, W>(
  aggregator: Aggregator<V, Acc, Out>,
  f: (w: W) => V | undefined
): Aggregator<W, Acc, Out> => ({
  empty: aggregator.empty,
  add: (acc, w) => {
    const v = f(w)
    return v === undefined ? acc : aggregator.add(acc, v)
  },
  merge: aggregator.merge,
  result: aggregator.result
})

/**
 * Aggregate per sub-key, e.g. per sensor of an equipment: `grouped((r: Reading) => r.sensor,
 * contramap(sensorStats, (r: Reading) => r.value))` gives `{ [sensor]: stats }`. Sub-keys are
 * reported in sorted order so results are deterministic.
 */
export const grouped = <W, Acc, Out>(
  subKey: (w: W) => string,
  aggregator: Aggregator<W, Acc, Out>
): Aggregator<W, Map<string, Acc>, Record<string, Out>> => ({
  empty: () => new Map(),
  add: (acc, w) => {
    const k = subKey(w)
    const prev = acc.get(k)
    acc.set(k, aggregator.add(prev === undefined ? aggregator.empty() : prev, w))
    return acc
  },
  merge: (a, b) => {
    for (const [k, bAcc] of b) {
      const aAcc = a.get(k)
      // Merge b into a fresh accumulator so that b (which must not be mutated) is not aliased by a.
      a.set(k, aggregator.merge(aAcc === undefined ? aggregator.empty() : aAcc, bAcc))
    }
    return a
  },
  result: (acc) => {
    const out: Record<string, Out> = {}
    for (const k of [...acc.keys()].sort()) out[k] = aggregator.result(acc.get(k)!)
    return out
  }
})

/** Fold a whole array (reference / convenience; the engine uses `add` directly). */
export const aggregateAll = <V, Acc, Out>(aggregator: Aggregator<V, Acc, Out>, values: Iterable<V>): Out => {
  let acc = aggregator.empty()
  for (const v of values) acc = aggregator.add(acc, v)
  return aggregator.result(acc)
}
