/**
 * The domain of the example: page events in, per-user 1-hour session features out. Pure: no Kafka,
 * no Effect runtime, so the aggregation can be property-tested on its own.
 */
import { Schema } from "effect"
import { Aggregator } from "tributary"

/** One event of a user on the shop's site, as JSON on the input topic (keyed by `user_id`). */
export const PageEvent = Schema.Struct({
  event_id: Schema.String,
  user_id: Schema.NonEmptyString,
  /** Epoch milliseconds. */
  event_time: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  kind: Schema.Literals(["view", "add_to_cart", "purchase"]),
  page: Schema.String,
  /** What a purchase was worth; ignored for other kinds. */
  amount: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
})
export type PageEvent = typeof PageEvent.Type

export const HOUR_MS = 3_600_000

/** How many distinct strings: an aggregator of our own (mergeable, so it would also work for sessions). */
export const distinctCount = <V>(key: (value: V) => string): Aggregator.Aggregator<V, Set<string>, number> => ({
  empty: () => new Set(),
  add: (seen, value) => seen.add(key(value)),
  // May mutate its first argument (the engine's ownership rule), never the second.
  merge: (a, b) => {
    for (const k of b) a.add(k)
    return a
  },
  result: (seen) => seen.size
})

const ofKind = (kind: PageEvent["kind"]) => (e: PageEvent) => (e.kind === kind ? e : undefined)

/** Everything one window of one user aggregates to, in one pass over its events. */
export const sessionAggregator = Aggregator.combine({
  events: Aggregator.count,
  views: Aggregator.contramap(Aggregator.count, ofKind("view")),
  carts: Aggregator.contramap(Aggregator.count, ofKind("add_to_cart")),
  purchases: Aggregator.contramap(Aggregator.count, ofKind("purchase")),
  revenue: Aggregator.contramap(Aggregator.sum, (e: PageEvent) => (e.kind === "purchase" ? e.amount ?? 0 : undefined)),
  distinctPages: distinctCount((e: PageEvent) => e.page),
  first: Aggregator.contramap(Aggregator.min, (e: PageEvent) => e.event_time),
  last: Aggregator.contramap(Aggregator.max, (e: PageEvent) => e.event_time)
})
export type SessionAggregate = Aggregator.AggregatorOutput<typeof sessionAggregator>

/** The feature group's features (Hive types), in the order of the rows. */
export const sessionFeatures = [
  { name: "user_id", type: "string" },
  { name: "window_start", type: "bigint" },
  { name: "events", type: "bigint" },
  { name: "views", type: "bigint" },
  { name: "carts", type: "bigint" },
  { name: "purchases", type: "bigint" },
  { name: "revenue", type: "double" },
  { name: "distinct_pages", type: "bigint" },
  { name: "active_ms", type: "bigint" },
  { name: "conversion", type: "double" }
] as const

/** A type, not an interface: rows must be assignable to `Record<string, unknown>`. */
export type SessionRow = {
  readonly user_id: string
  readonly window_start: number
  readonly events: number
  readonly views: number
  readonly carts: number
  readonly purchases: number
  readonly revenue: number
  readonly distinct_pages: number
  /** From the window's first to its last event. */
  readonly active_ms: number
  /** Purchases per view; null without views. */
  readonly conversion: number | null
}

export const toSessionRow = (userId: string, windowStart: number, a: SessionAggregate): SessionRow => ({
  user_id: userId,
  window_start: windowStart,
  events: a.events,
  views: a.views,
  carts: a.carts,
  purchases: a.purchases,
  revenue: a.revenue,
  distinct_pages: a.distinctPages,
  active_ms: a.first === null || a.last === null ? 0 : a.last - a.first,
  conversion: a.views === 0 ? null : a.purchases / a.views
})

/**
 * Simulated traffic for `run` without Kafka (the embedded demo) and for tests: a dozen users, event
 * time starting twelve hours back and running a minute per event until it reaches the clock, so
 * hourly windows close within seconds; a share of the records are not valid events.
 */
export const makeSimulator = (options: { readonly seed: number; readonly malformedShare: number }) => {
  let state = options.seed >>> 0 || 1
  const random = () => {
    // xorshift32: deterministic for a seed, good enough for test traffic.
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 4_294_967_296
  }
  const pages = ["/", "/search", "/shoes", "/shirts", "/cart", "/checkout"]
  let eventTime: number | undefined
  let n = 0
  return (count: number, nowMs: number): Array<{ key: string; value: string }> =>
    Array.from({ length: count }, () => {
      eventTime = Math.min(nowMs, (eventTime ?? nowMs - 12 * HOUR_MS) + 60_000)
      const user = `user_${String(Math.floor(random() * 12)).padStart(2, "0")}`
      n++
      if (random() < options.malformedShare) return { key: user, value: `{"user_id":"${user}","event_time":"soon"}` }
      const roll = random()
      const kind = roll < 0.7 ? "view" : roll < 0.9 ? "add_to_cart" : "purchase"
      const event: PageEvent = {
        event_id: `${options.seed}-${n}`,
        user_id: user,
        event_time: eventTime,
        kind,
        page: pages[Math.floor(random() * pages.length)]!,
        ...(kind === "purchase" ? { amount: Math.round(random() * 20_000) / 100 } : {})
      }
      return { key: user, value: JSON.stringify(event) }
    })
}
