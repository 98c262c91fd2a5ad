/**
 * The aggregation against a plain reference: whatever the events and their order, the engine's
 * windows hold exactly what grouping the events by user and hour and counting by hand gives.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Schema } from "effect"
import { type PageEvent, sessionAggregator, type SessionRow, toSessionRow } from "../src/SessionFeatures.ts"
import { makeSessionEngine, sessionSettings } from "../src/SessionFeaturesPipeline.ts"

const HOUR = 3_600_000
const BASE = Date.UTC(2026, 0, 1)

/** Events of three users over five hours, from small sets so that windows get several events. */
const Events = Schema.Array(Schema.Struct({
  user: Schema.Literals(["u1", "u2", "u3"]),
  minute: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 299 })),
  kind: Schema.Literals(["view", "add_to_cart", "purchase"]),
  page: Schema.Literals(["/", "/a", "/b", "/c"]),
  cents: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100_000 }))
}))

const toEvents = (drawn: typeof Events.Type): Array<PageEvent> =>
  drawn.map((d, i) => ({
    event_id: `e${i}`,
    user_id: d.user,
    event_time: BASE + d.minute * 60_000 + (i % 60) * 1_000,
    kind: d.kind,
    page: d.page,
    ...(d.kind === "purchase" ? { amount: d.cents / 100 } : {})
  }))

/** By hand: group by user and hour, then count. */
const reference = (events: ReadonlyArray<PageEvent>): Map<string, SessionRow> => {
  const groups = new Map<string, Array<PageEvent>>()
  for (const e of events) {
    const start = Math.floor(e.event_time / HOUR) * HOUR
    const id = `${e.user_id}@${start}`
    groups.set(id, [...(groups.get(id) ?? []), e])
  }
  const rows = new Map<string, SessionRow>()
  for (const [id, es] of groups) {
    const times = es.map((e) => e.event_time)
    const views = es.filter((e) => e.kind === "view").length
    const purchases = es.filter((e) => e.kind === "purchase")
    rows.set(id, {
      user_id: es[0]!.user_id,
      window_start: Math.floor(es[0]!.event_time / HOUR) * HOUR,
      events: es.length,
      views,
      carts: es.filter((e) => e.kind === "add_to_cart").length,
      purchases: purchases.length,
      revenue: purchases.reduce((sum, e) => sum + (e.amount ?? 0), 0),
      distinct_pages: new Set(es.map((e) => e.page)).size,
      active_ms: Math.max(...times) - Math.min(...times),
      conversion: views === 0 ? null : purchases.length / views
    })
  }
  return rows
}

const assertSameRow = (actual: SessionRow, expected: SessionRow, id: string) => {
  const { revenue: a, ...restActual } = actual
  const { revenue: b, ...restExpected } = expected
  assert.deepStrictEqual(restActual, restExpected, id)
  // Sums of cents in another order may differ in the last bit.
  assert.isTrue(Math.abs(a - b) <= 1e-9 * Math.max(1, b), `${id}: revenue ${a} vs ${b}`)
}

const fold = (events: ReadonlyArray<PageEvent>) => {
  let acc = sessionAggregator.empty()
  for (const e of events) acc = sessionAggregator.add(acc, e)
  return acc
}

// Out-of-orderness longer than the whole input: in any order, no event is late.
const settings = Effect.runSync(
  sessionSettings.parse(ConfigProvider.fromEnv({ env: { SESSION_OUT_OF_ORDERNESS_SECONDS: String(6 * 3_600) } }))
)

describe("session features", () => {
  it.prop("the engine's windows equal the reference, in any order of the events", { drawn: Events }, ({ drawn }) => {
    const events = toEvents(drawn)
    const engine = makeSessionEngine(settings)
    engine.assign(0)
    const records = events.map((e, offset) => ({ offset, eventTime: e.event_time, key: e.user_id, value: e }))
    // A record a day later moves the watermark past every window of the input.
    const flush = { ...events[0]!, user_id: "flush", event_time: BASE + 30 * HOUR }
    const { fired, late } = engine.process(0, [
      ...records,
      { offset: records.length, eventTime: flush.event_time, key: "flush", value: flush }
    ], BASE + 30 * HOUR)
    assert.strictEqual(late.length, 0)
    const expected = reference(events)
    const actual = fired.map((f) => toSessionRow(f.key, f.window.start, f.result))
    assert.strictEqual(actual.length, expected.size, "one row per user and hour with events")
    for (const row of actual) {
      const id = `${row.user_id}@${row.window_start}`
      const want = expected.get(id)
      assert.isDefined(want, `unexpected window ${id}`)
      assertSameRow(row, want!, id)
    }
  })

  it.prop("merging the aggregates of two halves equals aggregating the whole", { drawn: Events }, ({ drawn }) => {
    const events = toEvents(drawn)
    const half = Math.floor(events.length / 2)
    const merged = sessionAggregator.result(
      sessionAggregator.merge(fold(events.slice(0, half)), fold(events.slice(half)))
    )
    const whole = sessionAggregator.result(fold(events))
    assertSameRow(toSessionRow("u", 0, merged), toSessionRow("u", 0, whole), "merged")
  })
})
