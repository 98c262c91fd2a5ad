import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { Effect, Fiber, Layer, Option } from "effect"
import { type CardAggregatesSettings, cardAggregatesSettings } from "../../src/config/CardAggregatesConfig.ts"
import { localFeatureStoreLayer, OnlineTables } from "../../src/hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { headerString, type OutgoingRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import {
  type CardFiring,
  decodeCardTransactions,
  makeCardAggregatesEngine,
  makeNewestWindowGuard,
  runCardAggregatesPipeline
} from "../../src/pipelines/card-aggregates/CardAggregatesPipeline.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { CardTransactionsSimulator } from "../../src/simulator/CardTransactionsSimulator.ts"
import {
  type CardTxn,
  type CardWindowRow,
  close,
  naiveCardWindowsByCard,
  sameCardWindow
} from "../support/CardWindowsReference.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const MIN = 60_000

const assertRowsEqual = (
  actual: ReadonlyArray<Record<string, unknown>>,
  expected: ReadonlyArray<CardWindowRow>,
  what: string
) => {
  assert.strictEqual(actual.length, expected.length, `${what}: number of rows`)
  expected.forEach((e, i) => {
    const a = actual[i]!
    assert.isTrue(sameCardWindow(a, e), `${what} row ${i}: got ${JSON.stringify(a)}, want ${JSON.stringify(e)}`)
  })
}

// ---------------------------------------------------------------------------------------------
// harness

const FG = "card_transactions_10m_agg"
const BASE = Date.UTC(2025, 0, 1, 12, 0, 0)

const settingsFor = (overrides: Partial<CardAggregatesSettings> = {}): CardAggregatesSettings =>
  settingsFrom(cardAggregatesSettings, {
    CARD_TRANSACTIONS_TOPIC: "credit_card_transactions",
    CARD_AGGREGATES_GROUP_ID: "card-aggregates-test",
    CARD_FEATURE_GROUP_NAME: FG,
    // Processing-time idleness would make lateness depend on scheduling; these tests close windows with
    // a far-future record on every partition instead.
    IDLE_TIMEOUT_SECONDS: 3_600
  }, overrides)

const testLayer = () =>
  Layer.mergeAll(localFeatureStoreLayer, PipelineRegistry.layer).pipe(
    Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 3, maxBatchSize: 200 }))
  )

const PARTITIONS = 3

/** One far-future record per partition (explicit partition, card 0): every data window closes. */
const flushRecords = (topic: string, at: number): Array<OutgoingRecord> =>
  Array.from({ length: PARTITIONS }, (_, partition) => ({
    topic,
    partition,
    key: "0",
    value: JSON.stringify({ tid: `flush-${partition}`, datetime: at, cc_num: 0, amount: 0 })
  }))

/** Rows of the feature group on the emulator's topic, decoded by avsc from the subject schema, per card in order. */
const featureRows = Effect.gen(function*() {
  const broker = yield* InMemoryBroker
  const table = yield* Effect.flatMap(OnlineTables, (t) => t.table(FG, 1))
  if (Option.isNone(table)) return new Map<number, Array<Record<string, unknown>>>()
  const fg = table.value.featureGroup
  const type = avro.Type.forSchema(JSON.parse(fg.subject.schema) as avro.Schema)
  const out = new Map<number, Array<Record<string, unknown>>>()
  for (const partition of broker.read(fg.onlineTopicName)) {
    for (const record of partition) {
      if (headerString(record, "featureGroupId") !== String(fg.featureGroupId)) continue
      const row = { ...(type.fromBuffer(record.value!) as Record<string, unknown>) }
      const card = row["cc_num"] as number
      assert.strictEqual(record.key?.toString("utf8"), String(card), "FG records are keyed by cc_num")
      out.set(card, [...(out.get(card) ?? []), row])
    }
  }
  return out
})

const countRows = (rows: Map<number, Array<unknown>>) => [...rows.values()].reduce((n, r) => n + r.length, 0)

const awaitRows = (expected: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      const rows = yield* featureRows
      if (countRows(rows) >= expected) {
        yield* Effect.sleep("300 millis") // anything extra would show up now
        return yield* featureRows
      }
      yield* Effect.sleep("50 millis")
    }
    return yield* featureRows
  })

const produce = (records: ReadonlyArray<OutgoingRecord>) => Effect.flatMap(KafkaSink, (sink) => sink.send(records))

const startPipeline = (settings: CardAggregatesSettings) =>
  Effect.gen(function*() {
    yield* Effect.flatMap(KafkaAdmin, (a) => a.createTopics([{ topic: settings.topic, partitions: PARTITIONS }]))
    const engine = makeCardAggregatesEngine(settings)
    const fiber = yield* Effect.forkChild(runCardAggregatesPipeline(settings, { engine }))
    return { fiber, engine }
  })

/** A simulated stream: 40 cards, 3000 records over 30 minutes, disorder up to 30 s, some malformed. */
const simulated = (options: { readonly malformedShare: number }) => {
  const sim = new CardTransactionsSimulator({
    seed: 11,
    cards: 40,
    maxDelayMs: 30_000,
    malformedShare: options.malformedShare
  })
  const records = Array.from({ length: 3_000 }, (_, i) => sim.next(BASE + i * 600))
  return {
    records,
    valid: records.filter((r) => !r.malformed).map((r) => r.transaction),
    malformed: records.filter((r) => r.malformed).length
  }
}

const flatten = (m: Map<number, Array<CardWindowRow>>) => [...m.values()].flat()

describe("card-aggregates pipeline (in-memory broker + local feature store)", () => {
  it.live("rows equal the naive reference (count, mean, two-pass sample std-dev), per card in window order; malformed → DLQ", () =>
    Effect.gen(function*() {
      const settings = settingsFor()
      const { malformed, records, valid } = simulated({ malformedShare: 0.02 })
      const expected = naiveCardWindowsByCard(valid)
      const { engine, fiber } = yield* startPipeline(settings)
      yield* produce(records.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      yield* produce(flushRecords(settings.topic, BASE + 24 * 60 * MIN))
      const rows = yield* awaitRows(flatten(expected).length)
      assert.deepStrictEqual([...rows.keys()].sort((a, b) => a - b), [...expected.keys()].sort((a, b) => a - b))
      for (const [card, want] of expected) assertRowsEqual(rows.get(card)!, want, `card ${card}`)

      // The online table keeps the newest window of each card: its "0" row.
      const online = Option.getOrThrow(yield* Effect.flatMap(OnlineTables, (t) => t.table(FG, 1)))
      for (const [card, want] of expected) {
        assert.deepStrictEqual(
          online.rows.get(String(card))?.["num_trans_per_10m"],
          want[want.length - 1]!.num_trans_per_10m
        )
      }

      // Malformed records: on the dead-letter topic with a reason, none in the windows.
      assert.isAbove(malformed, 10)
      const dlq = (yield* InMemoryBroker).read(`${settings.topic}.dlq`).flat()
      assert.strictEqual(dlq.length, malformed)
      for (const r of dlq) assert.isTrue((headerString(r, DeadLetterHeaders.reason) ?? "").length > 0)
      assert.strictEqual(engine.stats().late, 0)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(testLayer())))

  it.live("with CARD_WINDOW_START_FEATURE the rows carry window_start (= event time) and equal the reference window by window", () =>
    Effect.gen(function*() {
      const settings = settingsFor({ windowStartFeature: true })
      const { records, valid } = simulated({ malformedShare: 0 })
      const expected = naiveCardWindowsByCard(valid)
      const { fiber } = yield* startPipeline(settings)
      yield* produce(records.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      yield* produce(flushRecords(settings.topic, BASE + 24 * 60 * MIN))
      const rows = yield* awaitRows(flatten(expected).length)
      for (const [card, want] of expected) {
        const got = rows.get(card)!
        assert.deepStrictEqual(got.map((r) => r["window_start"]), want.map((r) => r.window_start))
        assertRowsEqual(got, want, `card ${card}`)
      }
      const online = Option.getOrThrow(yield* Effect.flatMap(OnlineTables, (t) => t.table(FG, 1)))
      assert.strictEqual(online.featureGroup.eventTime, "window_start")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(testLayer())))

  it.live("after a card's activity stops, num_trans_per_10m = 0 is written exactly once, as its last row", () =>
    Effect.gen(function*() {
      const settings = settingsFor()
      const txns: Array<CardTxn> = [
        { cc_num: 7, datetime: BASE + 10_000, amount: 10 },
        { cc_num: 7, datetime: BASE + 20_000, amount: 20 },
        { cc_num: 8, datetime: BASE + 5 * MIN, amount: 5 }
      ]
      const { fiber } = yield* startPipeline(settings)
      yield* produce(txns.map((t, i) => ({
        topic: settings.topic,
        key: String(t.cc_num),
        value: JSON.stringify({ tid: `t${i}`, ...t })
      })))
      yield* produce(flushRecords(settings.topic, BASE + 60 * MIN))
      const rows = yield* awaitRows(22)
      const card7 = rows.get(7)!
      // 10 windows [BASE − 9 min, BASE] hold both records; the 11th is the one "0".
      assert.strictEqual(card7.length, 11)
      for (const r of card7.slice(0, 10)) {
        assert.deepStrictEqual([r["num_trans_per_10m"], r["avg_amt_per_10m"]], [2, 15])
        assert.isTrue(close(r["stdev_amt_per_10m"] as number, Math.sqrt(50)), "sample std-dev of 10 and 20 is √50")
      }
      assert.deepStrictEqual(card7[10], {
        cc_num: 7,
        num_trans_per_10m: 0,
        avg_amt_per_10m: null,
        stdev_amt_per_10m: null
      })
      const card8 = rows.get(8)!
      assert.strictEqual(card8.length, 11)
      assert.deepStrictEqual(card8.filter((r) => r["num_trans_per_10m"] === 0).length, 1)
      assert.deepStrictEqual(card8[0], { cc_num: 8, num_trans_per_10m: 1, avg_amt_per_10m: 5, stdev_amt_per_10m: null })
      assert.deepStrictEqual(card8[10]!["num_trans_per_10m"], 0)
      assert.deepStrictEqual(card7.filter((r) => r["num_trans_per_10m"] === 0).length, 1)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(testLayer())))

  it.live("late records (beyond out-of-orderness + lateness) are counted, go to LATE_RECORDS_TOPIC, and change no row", () =>
    Effect.gen(function*() {
      const settings = settingsFor({ lateRecordsTopic: Option.some("card-late") })
      const { records, valid } = simulated({ malformedShare: 0 })
      const expected = naiveCardWindowsByCard(valid)
      const { engine, fiber } = yield* startPipeline(settings)
      const half = records.length / 2
      yield* produce(records.slice(0, half).map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      // Wait until the watermark is well into the data, then send records an hour old.
      yield* awaitRows(1)
      const late = new CardTransactionsSimulator({ seed: 3, cards: 40, lateShare: 1, lateByMs: 60 * MIN }).batch(
        25,
        BASE
      )
      yield* produce(late.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      yield* produce(records.slice(half).map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      yield* produce(flushRecords(settings.topic, BASE + 24 * 60 * MIN))
      const rows = yield* awaitRows(flatten(expected).length)
      for (const [card, want] of expected) assertRowsEqual(rows.get(card)!, want, `card ${card}`)
      assert.strictEqual(engine.stats().late, 25)
      assert.strictEqual((yield* InMemoryBroker).read("card-late").flat().length, 25)
      const stats = (yield* Effect.flatMap(PipelineRegistry, (r) => r.all)).find((s) => s.name === "card-aggregates")!
      assert.strictEqual(stats.late, 25)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(testLayer())))
})

describe("card-aggregates pieces", () => {
  it("decoding: the seed's record is valid; bad ones are malformed with the field named", () => {
    const rec = (offset: number, value: string) => ({
      topic: "credit_card_transactions",
      partition: 0,
      offset: String(offset),
      timestamp: BASE,
      key: null,
      value: Buffer.from(value),
      headers: {}
    })
    const { malformed, valid } = decodeCardTransactions([
      rec(0, JSON.stringify({ tid: "a", datetime: BASE, cc_num: 4_111_111_111_111_111, amount: -3.5 })),
      rec(1, "{not json"),
      rec(2, JSON.stringify({ tid: "b", datetime: BASE, cc_num: "4111111111111111111", amount: 1 })),
      rec(3, JSON.stringify({ tid: "c", datetime: BASE, cc_num: 1e19, amount: 1 })),
      rec(4, JSON.stringify({ tid: "d", datetime: BASE, amount: 1 })),
      rec(5, JSON.stringify({ tid: "e", datetime: "yesterday", cc_num: 5, amount: 1 }))
    ])
    assert.deepStrictEqual(valid.map((v) => v.value.cc_num), [4_111_111_111_111_111])
    assert.deepStrictEqual(malformed.map((m) => m.record.offset), ["1", "2", "3", "4", "5"])
    assert.match(malformed[1]!.error.reason, /^cc_num/)
    assert.match(malformed[2]!.error.reason, /^cc_num/)
    assert.match(malformed[3]!.error.reason, /^cc_num/)
    assert.match(malformed[4]!.error.reason, /^datetime/)
  })

  it("restart: a partition's replayed windows are not judged late because another partition replays faster", () => {
    const settings = settingsFor({})
    const rec = (offset: number, eventTime: number) => ({ offset, eventTime, key: 1, value: 10 })
    const engine = makeCardAggregatesEngine(settings)
    // As after a crash: p1 committed offset 0 with E_p = BASE + 5m, W_p = BASE + 20m10s and replay end
    // 50 (the metadata's `w`, `pw`, `e`); p0 nothing.
    engine.assign(0)
    engine.assign(1, {
      restoredWatermark: BASE + 5 * MIN,
      restoredPartitionWatermark: BASE + 20 * MIN + 10_000,
      replayEndOffset: 50
    })
    engine.process(0, [rec(0, BASE + 30 * MIN)], 0) // p0's replay runs ahead
    // p1's restored W_p waits for the end of its replay: W does not jump to it.
    assert.strictEqual(engine.watermark(), BASE + 5 * MIN)
    const replayed = engine.process(1, [rec(0, BASE + 12 * MIN), rec(1, BASE + 13 * MIN)], 0) // p1's kept windows
    assert.deepStrictEqual(replayed.late, [])
    assert.deepStrictEqual(replayed.fired, []) // p1 fires nothing before its replay is complete
    assert.strictEqual(engine.stats().recordsInOpenWindows, 30) // 10 windows per record
    assert.strictEqual(engine.effectiveWatermark(1), BASE + 5 * MIN)
    // The replay reaches offset 50: W_p is the restored one, and p1's windows up to it fire complete.
    const done = engine.process(1, [rec(49, BASE + 14 * MIN)], 0)
    assert.deepStrictEqual(done.late, [])
    assert.strictEqual(engine.watermark(), BASE + 20 * MIN + 10_000)
    const first = done.fired.find((f) => f.partition === 1 && f.window.start === BASE + 5 * MIN)
    assert.strictEqual(first?.result.count, 3)
  })

  it("newest-window guard (ALLOWED_LATENESS > 0): an update of an older window never follows a newer one", () => {
    const f = (key: number, start: number, count: number, kind: CardFiring["kind"] = "final"): CardFiring => ({
      partition: 0,
      key,
      window: { start, end: start + 10 * MIN },
      kind,
      result: { count, mean: null, variance: null, stddev: null }
    })
    let E = 0
    const guard = makeNewestWindowGuard(5 * MIN, () => E)
    assert.deepStrictEqual(guard.filter([f(1, 0, 1), f(1, MIN, 1), f(2, MIN, 3)]).length, 3)
    // A late record re-fires card 1's first window: card 1 already shows a newer one → dropped.
    assert.deepStrictEqual(
      guard.filter([f(1, 0, 2, "update"), f(2, MIN, 4, "update")]).map((x) => [x.key, x.result.count]),
      [[2, 4]]
    )
    // The newest window itself may be updated.
    assert.strictEqual(guard.filter([f(1, MIN, 2, "update")]).length, 1)
    E = 100 * MIN
    assert.strictEqual(guard.size(), 2)
  })
})
