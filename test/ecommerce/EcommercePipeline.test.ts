import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import type { EcommerceSettings } from "../../src/config/EcommerceConfig.ts"
import { ecommerceGroups, ecommerceSettings } from "../../src/config/EcommerceConfig.ts"
import {
  addSales,
  type EcommerceRow,
  type EcommerceTransaction,
  emptySalesAggregates,
  toEcommerceRow
} from "../../src/domain/EcommerceTransaction.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runEcommerceSinks } from "../../src/pipelines/ecommerce/EcommercePipeline.ts"
import { EcommerceSimulator, type SimulatedEcommerceRecord } from "../../src/simulator/EcommerceSimulator.ts"
import { EcommerceStore, InMemoryEcommerceStore } from "../../src/sinks/postgres/EcommerceStore.ts"
import { InMemorySearchIndex, SearchIndexer } from "../../src/sinks/search/SearchIndexer.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const TOPIC = "financial_transactions"

const settings = (overrides: Partial<EcommerceSettings> = {}): EcommerceSettings =>
  settingsFrom(ecommerceSettings, {
    ECOMMERCE_TOPIC: TOPIC,
    ECOMMERCE_GROUP_ID: "ecommerce-test",
    PAYMENT_ALERTS_TOPIC: "payment-alerts",
    PAYMENT_ALERTS_TRANSACTIONAL_ID: "ecommerce-test-alerts",
    DATABASE_URL: "postgres://unused",
    DATABASE_MAX_CONNECTIONS: 1,
    SEARCH_URL: "http://unused",
    SEARCH_BULK_MAX_DOCS: 100,
    SEARCH_REQUEST_TIMEOUT_MS: 1_000
  }, overrides)

const layer = (store: InMemoryEcommerceStore, index: InMemorySearchIndex, partitions = 3) =>
  Layer.mergeAll(
    InMemoryBroker.layerWithKafka({ defaultPartitions: partitions, maxBatchSize: 200 }),
    PipelineRegistry.layer,
    EcommerceStore.layerInMemory(store),
    SearchIndexer.layerInMemory(index)
  )

/** Polls until `done` holds (live clock: the in-memory broker delivers on its own fibers). */
const eventually = (done: () => boolean, what: string, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < timeoutMs; waited += 25) {
      if (done()) return
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** Two UTC days, a month boundary in between: 2024-01-31 22:00 onwards, 3 s apart. */
const simulate = (seed: number, count: number, malformedShare: number, from = Date.UTC(2024, 0, 31, 22)) => {
  const simulator = new EcommerceSimulator(seed, malformedShare)
  return Array.from({ length: count }, (_, i) => simulator.next(from + i * 3_000))
}

const validRows = (records: ReadonlyArray<SimulatedEcommerceRecord>): Array<EcommerceRow> =>
  records.filter((r) => !r.malformed).map((r) => toEcommerceRow(JSON.parse(r.value) as EcommerceTransaction))

const produce = (records: ReadonlyArray<SimulatedEcommerceRecord>) =>
  Effect.flatMap(KafkaSink, (sink) => sink.send(records.map((r) => ({ topic: TOPIC, key: r.key, value: r.value }))))

const sameAggregates = (store: InMemoryEcommerceStore, rows: ReadonlyArray<EcommerceRow>) => {
  const reference = addSales(emptySalesAggregates(), rows)
  assert.deepStrictEqual(store.aggregates.perCategory, reference.perCategory)
  assert.deepStrictEqual(store.aggregates.perDay, reference.perDay)
  assert.deepStrictEqual(store.aggregates.perMonth, reference.perMonth)
}

describe("ecommerce pipeline (in-memory broker, store and index)", () => {
  it.live(
    "writes every valid transaction once to both sinks; aggregates to the cent; malformed dead-lettered once",
    () => {
      const store = new InMemoryEcommerceStore()
      const index = new InMemorySearchIndex()
      return Effect.gen(function*() {
        const broker = yield* InMemoryBroker
        const input = simulate(21, 3_000, 0.05)
        const valid = validRows(input)
        const malformed = input.filter((r) => r.malformed)
        assert.isAbove(malformed.length, 100)
        // Transport failures on both sides and rejected bulk items: all retried, nothing skipped.
        store.failNextWrites = 2
        index.failNextRequests = 2
        for (const r of valid.slice(0, 50)) index.rejectOnce.add(r.transactionId)
        yield* produce(input)

        const fiber = yield* Effect.forkChild(runEcommerceSinks(settings()))
        const dlq = () => broker.read(`${TOPIC}.dlq`).flat()
        yield* eventually(
          () =>
            store.rows.size === valid.length && index.documents.size === valid.length &&
            dlq().length === malformed.length,
          "both sinks complete"
        )
        const logs = broker.read(TOPIC)
        yield* eventually(
          () =>
            logs.every((log, partition) =>
              store.offsets.get(`${ecommerceGroups("ecommerce-test").postgres}|${TOPIC}|${partition}`) ===
                BigInt(log.length)
            ),
          "offsets stored with the rows"
        )
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(fiber)

        sameAggregates(store, valid)
        assert.strictEqual(dlq().length, malformed.length, "dead-lettered by one group only")
        assert.sameMembers(dlq().map((r) => r.value!.toString()), malformed.map((r) => r.value))
        assert.strictEqual(index.rejectOnce.size, 0)
        for (const r of valid) {
          assert.deepStrictEqual(store.rows.get(r.transactionId), r)
          const doc = index.documents.get(r.transactionId)!
          assert.strictEqual(doc["totalAmount"], r.totalAmountCents / 100)
          assert.strictEqual(doc["transactionDate"], new Date(r.transactionTime).toISOString())
        }
      }).pipe(Effect.provide(layer(store, index)))
    },
    60_000
  )

  it.live(
    "exactly-once across restarts: offsets stored with the rows win over Kafka's, a full replay counts nothing twice",
    () => {
      const store = new InMemoryEcommerceStore()
      const index = new InMemorySearchIndex()
      return Effect.gen(function*() {
        const broker = yield* InMemoryBroker
        const first = simulate(5, 1_000, 0)
        const second = simulate(6, 300, 0, Date.UTC(2024, 1, 29, 23, 50))
        const rows1 = validRows(first)
        const rows2 = validRows(second)
        yield* produce(first)
        const run = (groupId: string) => Effect.forkChild(runEcommerceSinks(settings({ groupId })))

        let fiber = yield* run("g1")
        yield* eventually(() => store.rows.size === rows1.length && index.documents.size === rows1.length, "first run")
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(store.rowsOffered, rows1.length)

        // Kafka forgets the PostgreSQL group's progress (as if its commits had been lost): the offsets in
        // the store decide, so nothing is consumed again.
        broker.commit(
          ecommerceGroups("g1").postgres,
          broker.read(TOPIC).map((_, partition) => ({ topic: TOPIC, partition, offset: "0" }))
        )
        yield* produce(second)
        fiber = yield* run("g1")
        yield* eventually(() => store.rows.size === rows1.length + rows2.length, "second run")
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(store.rowsOffered, rows1.length + rows2.length, "no record consumed twice")
        sameAggregates(store, [...rows1, ...rows2])

        // A group with no stored offsets replays the whole topic: every row conflicts, no aggregate moves.
        fiber = yield* run("g2")
        yield* eventually(() => store.rowsOffered === 2 * (rows1.length + rows2.length), "full replay")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(store.rows.size, rows1.length + rows2.length)
        sameAggregates(store, [...rows1, ...rows2])
        assert.strictEqual(index.documents.size, rows1.length + rows2.length, "re-indexing overwrites by id")
      }).pipe(Effect.provide(layer(store, index)))
    },
    60_000
  )

  it.live("each sink progresses on its own: a down search engine does not stop PostgreSQL, and vice versa", () => {
    const store = new InMemoryEcommerceStore()
    const index = new InMemorySearchIndex()
    return Effect.gen(function*() {
      const input = simulate(8, 1_500, 0)
      const rows = validRows(input)
      index.failNextRequests = Number.MAX_SAFE_INTEGER
      yield* produce(input.slice(0, 1_000))
      const fiber = yield* Effect.forkChild(runEcommerceSinks(settings()))
      yield* eventually(() => store.rows.size === 1_000, "PostgreSQL while search is down")
      assert.strictEqual(index.documents.size, 0)

      // Search comes back, the database goes down: the index catches up, the database waits.
      store.failNextWrites = Number.MAX_SAFE_INTEGER
      index.failNextRequests = 0
      yield* produce(input.slice(1_000))
      yield* eventually(() => index.documents.size === rows.length, "search catches up")
      assert.strictEqual(store.rows.size, 1_000)

      store.failNextWrites = 0
      yield* eventually(() => store.rows.size === rows.length, "PostgreSQL catches up")
      yield* Fiber.interrupt(fiber)
      sameAggregates(store, rows)
    }).pipe(Effect.provide(layer(store, index)))
  }, 60_000)

  it.live("counts failed payments per event-time minute and publishes them to payment-alerts", () => {
    const store = new InMemoryEcommerceStore()
    const index = new InMemorySearchIndex()
    return Effect.gen(function*() {
      const broker = yield* InMemoryBroker
      const simulator = new EcommerceSimulator(9)
      const t0 = Date.UTC(2024, 5, 1, 12, 0)
      const at = (offsetMs: number, paymentStatus: string): SimulatedEcommerceRecord => {
        const t = { ...simulator.transaction(t0 + offsetMs), paymentStatus }
        return { key: t.transactionId, value: JSON.stringify(t), malformed: false }
      }
      yield* produce([
        at(1_000, "failed"),
        at(2_000, "completed"),
        at(59_999, "DECLINED"),
        at(30_000, "error"), // 30 s out of order, but 12:00 is still open (watermark 12:00:54.999): counted
        at(61_000, "completed"),
        at(62_000, "pending"), // 12:01 has transactions but no failure: no alert
        at(125_000, "failed"),
        at(126_000, "rejected"),
        at(5 * 60_000, "completed") // moves the watermark past 12:02 + 5 s
      ])
      const fiber = yield* Effect.forkChild(runEcommerceSinks(settings()))
      const alerts = () => broker.read("payment-alerts").flat()
      yield* eventually(() => alerts().length >= 2, "alerts of closed minutes")
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)

      // The alerts topic has several partitions: order only within one, so compare by key.
      assert.deepStrictEqual(
        alerts().map((r) => [r.key!.toString(), JSON.parse(r.value!.toString())]).toSorted((a, b) =>
          String(a[0]).localeCompare(String(b[0]))
        ),
        [
          [`${TOPIC}/0/2024-06-01T12:00:00.000Z`, {
            alert: "failed-payments",
            windowStart: "2024-06-01T12:00:00.000Z",
            windowEnd: "2024-06-01T12:01:00.000Z",
            failedPayments: 3,
            sourceTopic: TOPIC,
            partition: 0
          }],
          [`${TOPIC}/0/2024-06-01T12:02:00.000Z`, {
            alert: "failed-payments",
            windowStart: "2024-06-01T12:02:00.000Z",
            windowEnd: "2024-06-01T12:03:00.000Z",
            failedPayments: 2,
            sourceTopic: TOPIC,
            partition: 0
          }]
        ]
      )
      // The alerts group committed its checkpoint in the same transaction (exactly-once to Kafka).
      assert.isDefined(broker.committed(ecommerceGroups("ecommerce-test").alerts, { topic: TOPIC, partition: 0 }))
    }).pipe(Effect.provide(layer(store, index, 1)))
  }, 60_000)
})
