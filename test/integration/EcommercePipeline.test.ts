import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { beforeAll } from "vitest"
import { ecommerceGroups, type EcommerceSettings, ecommerceSettings } from "../../src/config/EcommerceConfig.ts"
import {
  addSales,
  type EcommerceRow,
  type EcommerceTransaction,
  emptySalesAggregates,
  isFailedPayment,
  parseCents,
  toEcommerceRow
} from "../../src/domain/EcommerceTransaction.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { partitionForKey } from "../../src/kafka/KeyPartitioner.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { ecommerceSinksLayer, runEcommerceSinks } from "../../src/pipelines/ecommerce/EcommercePipeline.ts"
import { EcommerceSimulator, type SimulatedEcommerceRecord } from "../../src/simulator/EcommerceSimulator.ts"
import { readTopic } from "../support/FeatureGroupTopic.ts"
import {
  allDocuments,
  countDocuments,
  ensureOpenSearch,
  openSearchPid,
  searchUrl,
  uniqueIndex
} from "../support/LocalOpenSearch.ts"
import { createTestDatabase, ensurePostgres } from "../support/LocalPostgres.ts"
import { type RunningService, startService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom, type TestEnv } from "../support/TestSettings.ts"

beforeAll(async () => {
  await ensurePostgres()
  await ensureOpenSearch()
})

/** A fresh topic, group, database and index, so runs never see each other's data; `env` adds or replaces variables. */
const scenario = (name: string, env: TestEnv = {}) => {
  const databaseUrl = createTestDatabase(name.replaceAll("-", "_"))
  const settings = settingsFrom(ecommerceSettings, {
    ECOMMERCE_TOPIC: uniqueName(`${name}-tx`),
    ECOMMERCE_GROUP_ID: uniqueName(`${name}-group`),
    PAYMENT_ALERTS_TOPIC: uniqueName(`${name}-alerts`),
    PAYMENT_ALERTS_TRANSACTIONAL_ID: uniqueName(`${name}-alerts-tx`),
    DATABASE_URL: databaseUrl,
    SEARCH_URL: searchUrl(),
    SEARCH_INDEX: uniqueIndex(name),
    SEARCH_REQUEST_TIMEOUT_MS: 15_000,
    ...env
  })
  return { databaseUrl, settings }
}

/** Spread over three UTC days across a month end, 13 s apart from 2024-03-30 12:00. */
const simulate = (seed: number, count: number, malformedShare: number) => {
  const simulator = new EcommerceSimulator(seed, malformedShare)
  return Array.from({ length: count }, (_, i) => simulator.next(Date.UTC(2024, 2, 30, 12) + i * 13_000))
}

const validRows = (records: ReadonlyArray<SimulatedEcommerceRecord>): Array<EcommerceRow> =>
  records.filter((r) => !r.malformed).map((r) => toEcommerceRow(JSON.parse(r.value) as EcommerceTransaction))

const produce = (topic: string, records: ReadonlyArray<SimulatedEcommerceRecord>) =>
  Effect.gen(function*() {
    yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
    const sink = yield* KafkaSink
    for (let i = 0; i < records.length; i += 5_000) {
      yield* sink.send(records.slice(i, i + 5_000).map((r) => ({ topic, key: r.key, value: r.value })))
    }
  })

/** What PostgreSQL holds, read back with the same driver (sums as exact decimal text); connected for the test's scope. */
const database = (url: string) =>
  Effect.gen(function*() {
    const sql = Context.get(yield* Layer.build(PgClient.layer({ url: Redacted.make(url) })), SqlClient.SqlClient)
    const count = Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM transactions`, (r) => r[0]!.n)
    const storedOffsets = (groupId: string) =>
      Effect.map(
        sql<
          { n: string }
        >`SELECT coalesce(sum(next_offset), 0)::text AS n FROM kafka_offsets WHERE group_id = ${groupId}`,
        (r) => Number(r[0]!.n)
      )
    const aggregates = Effect.gen(function*() {
      const perCategory = yield* sql<{ d: string; c: string; s: string }>`
        SELECT transaction_date::text AS d, category AS c, total_sales::text AS s FROM sales_per_category`
      const perDay = yield* sql<{ d: string; s: string }>`
        SELECT transaction_date::text AS d, total_sales::text AS s FROM sales_per_day`
      const perMonth = yield* sql<{ y: number; m: number; s: string }>`
        SELECT year AS y, month AS m, total_sales::text AS s FROM sales_per_month`
      return {
        perCategory: new Map(perCategory.map((r) => [`${r.d}|${r.c}`, parseCents(r.s)])),
        perDay: new Map(perDay.map((r) => [r.d, parseCents(r.s)])),
        perMonth: new Map(perMonth.map((r) => [`${r.y}-${r.m}`, parseCents(r.s)]))
      }
    })
    const rows = Effect.map(
      sql<{ id: string; total: string; price: string; qty: number; at: Date; category: string }>`
        SELECT transaction_id::text AS id, total_amount::text AS total, product_price::text AS price,
               product_quantity AS qty, transaction_date AS at, product_category AS category
        FROM transactions`,
      (rs) => new Map(rs.map((r) => [r.id, r]))
    )
    return { count, storedOffsets, aggregates, rows }
  })

/** The database equals the reference computed from the generated records: every row once, sums to the cent. */
const assertDatabaseMatches = (db: Effect.Success<ReturnType<typeof database>>, valid: ReadonlyArray<EcommerceRow>) =>
  Effect.gen(function*() {
    const rows = yield* db.rows
    assert.strictEqual(rows.size, valid.length, "one row per valid transaction")
    for (const v of valid) {
      const r = rows.get(v.transactionId)
      assert.isDefined(r, v.transactionId)
      assert.strictEqual(parseCents(r!.total), BigInt(v.totalAmountCents))
      assert.strictEqual(parseCents(r!.price), BigInt(v.productPriceCents))
      assert.strictEqual(r!.at.getTime(), v.transactionTime)
    }
    const reference = addSales(emptySalesAggregates(), valid)
    const actual = yield* db.aggregates
    assert.deepStrictEqual(actual.perCategory, reference.perCategory, "sales_per_category")
    assert.deepStrictEqual(actual.perDay, reference.perDay, "sales_per_day")
    assert.deepStrictEqual(actual.perMonth, reference.perMonth, "sales_per_month")
  })

const assertIndexMatches = (index: string, valid: ReadonlyArray<EcommerceRow>) =>
  Effect.gen(function*() {
    const docs = yield* Effect.promise(() => allDocuments(searchUrl(), index))
    assert.strictEqual(docs.size, valid.length, "one document per transaction")
    for (const v of valid) {
      const d = docs.get(v.transactionId)
      assert.isDefined(d, v.transactionId)
      assert.strictEqual(d!["totalAmount"], v.totalAmountCents / 100)
      assert.strictEqual(d!["transactionDate"], new Date(v.transactionTime).toISOString())
    }
  })

const waitFor = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeout: `${number} seconds`) =>
  check.pipe(
    Effect.catchCause(() => Effect.succeed(false)),
    Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("250 millis") }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

const inProcessLayer = (settings: EcommerceSettings) =>
  Layer.mergeAll(PipelineRegistry.layer, ecommerceSinksLayer(settings), realKafkaLayer())

describe("ecommerce pipeline: real Kafka, PostgreSQL and OpenSearch", () => {
  it.live(
    "after a generated run, rows once, aggregates equal the reference to the cent, one document per transaction",
    () =>
      Effect.gen(function*() {
        const { databaseUrl, settings } = scenario("eco-run")
        const input = simulate(2024, 6_000, 0.03)
        const valid = validRows(input)
        yield* produce(settings.topic, input)
        const db = yield* database(databaseUrl)

        const started = Date.now()
        const pipeline = yield* runEcommerceSinks(settings).pipe(
          Effect.provide(inProcessLayer(settings)),
          Effect.forkChild
        )
        yield* waitFor(
          "PostgreSQL",
          Effect.map(db.storedOffsets(ecommerceGroups(settings.groupId).postgres), (n) => n === input.length),
          "90 seconds"
        )
        yield* waitFor(
          "index",
          Effect.promise(() => countDocuments(searchUrl(), settings.search.index).then((n) => n === valid.length)),
          "90 seconds"
        )
        console.log(`[ecommerce] ${input.length} records into PostgreSQL and OpenSearch in ${Date.now() - started} ms`)
        yield* Fiber.interrupt(pipeline)

        assert.strictEqual(yield* db.count, valid.length)
        yield* assertDatabaseMatches(db, valid)
        yield* assertIndexMatches(settings.search.index, valid)

        // The template's mappings are what dashboards need.
        const mapping = yield* Effect.promise(() =>
          fetch(`${searchUrl()}/${settings.search.index}/_mapping`).then((r) =>
            r.json() as Promise<Record<string, any>>
          )
        )
        const properties = mapping[settings.search.index].mappings.properties
        assert.strictEqual(properties.transactionDate.type, "date")
        assert.strictEqual(properties.totalAmount.type, "scaled_float")
        assert.strictEqual(properties.productCategory.type, "keyword")
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )

  it.live(
    "values PostgreSQL cannot store are dead-lettered by the PostgreSQL group; every other row is stored, nothing retried forever",
    () =>
      Effect.gen(function*() {
        const { databaseUrl, settings } = scenario("eco-reject")
        const good = simulate(77, 300, 0)
        const base = JSON.parse(good[0]!.value) as Record<string, unknown>
        // Valid input for the schema, but beyond what the table's columns take.
        const bad = [
          { ...base, transactionId: "00000000-0000-4000-8000-00000000000a", productQuantity: 3_000_000_000 },
          { ...base, transactionId: "00000000-0000-4000-8000-00000000000b", productName: "nul\u0000inside" }
        ].map((t) => ({ key: String(t.transactionId), value: JSON.stringify(t), malformed: false }))
        const input = [...good.slice(0, 150), ...bad, ...good.slice(150)]
        yield* produce(settings.topic, input)
        const db = yield* database(databaseUrl)
        const pipeline = yield* runEcommerceSinks(settings).pipe(
          Effect.provide(inProcessLayer(settings)),
          Effect.forkChild
        )
        yield* waitFor(
          "PostgreSQL",
          Effect.map(db.storedOffsets(ecommerceGroups(settings.groupId).postgres), (n) => n === input.length),
          "90 seconds"
        )
        assert.isUndefined(pipeline.pollUnsafe(), "the pipeline is still running")
        yield* Fiber.interrupt(pipeline)
        yield* assertDatabaseMatches(db, validRows(good))
        const byPostgres = (r: KafkaRecord) => r.headers["tributary.pipeline"]?.toString() === "ecommerce"
        const dead = yield* readTopic(`${settings.topic}.dlq`, (rs) => rs.filter(byPostgres).length >= bad.length)
        const fromPostgres = dead.filter(byPostgres)
        assert.sameMembers(fromPostgres.map((r) => r.key!.toString()), bad.map((r) => r.key))
        for (const r of fromPostgres) {
          assert.include(r.headers["tributary.error.reason"]?.toString(), "rejected by the sink")
        }
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )

  it.live(
    "a service SIGKILLed mid-stream and restarted: aggregates still equal the reference, one document per transaction",
    () =>
      Effect.gen(function*() {
        const { databaseUrl, settings } = scenario("eco-crash")
        const input = simulate(77, 40_000, 0.01)
        const valid = validRows(input)
        yield* produce(settings.topic, input)
        const db = yield* database(databaseUrl)
        const env = {
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          ECOMMERCE_TOPIC: settings.topic,
          ECOMMERCE_GROUP_ID: settings.groupId,
          PAYMENT_ALERTS_TOPIC: settings.alertsTopic,
          DATABASE_URL: databaseUrl,
          SEARCH_URL: settings.search.url,
          SEARCH_INDEX: settings.search.index,
          LOG_LEVEL: "Warn"
        }
        const first = startService(["run", "ecommerce"], env)
        // Kill it while it is writing: some rows stored, not all.
        yield* waitFor(
          "first rows",
          Effect.map(db.count.pipe(Effect.orElseSucceed(() => 0)), (n) => n > 4_000),
          "90 seconds"
        )
        first.child.kill("SIGKILL")
        assert.strictEqual(yield* Effect.promise(() => first.exited), "SIGKILL")
        const atKill = yield* db.count
        assert.isBelow(atKill, valid.length, "killed mid-stream")
        console.log(`[ecommerce] killed with ${atKill} of ${valid.length} rows stored`)

        const second = startService(["run", "ecommerce"], env)
        yield* waitFor(
          "PostgreSQL after restart",
          Effect.map(db.storedOffsets(ecommerceGroups(settings.groupId).postgres), (n) => n === input.length),
          "120 seconds"
        )
        yield* waitFor(
          "index after restart",
          Effect.promise(() => countDocuments(searchUrl(), settings.search.index).then((n) => n === valid.length)),
          "120 seconds"
        )
        second.child.kill("SIGTERM")
        yield* Effect.promise(() => second.exited)

        yield* assertDatabaseMatches(db, valid)
        yield* assertIndexMatches(settings.search.index, valid)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    300_000
  )

  it.live(
    "with the search engine stopped, PostgreSQL keeps up; the index catches up when it returns, nothing missing",
    () =>
      Effect.gen(function*() {
        // Requests to the frozen engine time out (and are retried) every 5 s.
        const { databaseUrl, settings } = scenario("eco-down", { SEARCH_REQUEST_TIMEOUT_MS: 5_000 })
        const input = simulate(5, 8_000, 0)
        const valid = validRows(input)
        const db = yield* database(databaseUrl)
        const pid = openSearchPid()
        // The topic exists before the consumers subscribe; its records come while the engine is stopped.
        yield* (yield* KafkaAdmin).createTopics([{ topic: settings.topic, partitions: 3 }])

        const pipeline = yield* runEcommerceSinks(settings).pipe(
          Effect.provide(inProcessLayer(settings)),
          Effect.forkChild
        )
        // Both sinks running with the engine there: the first records reach the index.
        yield* produce(settings.topic, input.slice(0, 1_000))
        yield* waitFor(
          "first documents",
          Effect.promise(() => countDocuments(searchUrl(), settings.search.index).then((n) => n === 1_000)),
          "60 seconds"
        )
        // Then freeze its JVM mid-stream (no answers, connections hang) while the rest arrives.
        process.kill(pid, "SIGSTOP")
        const stoppedAt = Date.now()
        yield* Effect.gen(function*() {
          yield* produce(settings.topic, input.slice(1_000))
          yield* waitFor(
            "PostgreSQL while search is stopped",
            Effect.map(db.storedOffsets(ecommerceGroups(settings.groupId).postgres), (n) => n === input.length),
            "90 seconds"
          )
          console.log(`[ecommerce] PostgreSQL complete ${Date.now() - stoppedAt} ms after the search engine stopped`)
          // Down "for a while": several request timeouts and retries; the search group is stuck where it was.
          yield* Effect.sleep("12 seconds")
          const searchCommitted = yield* (yield* KafkaAdmin).committedOffsets(
            ecommerceGroups(settings.groupId).search,
            settings.topic
          )
          assert.isAtMost(
            searchCommitted.reduce((n, c) => n + Number(c.offset ?? 0), 0),
            1_000,
            "search made no progress"
          )
          assert.strictEqual(yield* db.count, valid.length, "PostgreSQL is complete meanwhile")
        }).pipe(Effect.ensuring(Effect.sync(() => process.kill(pid, "SIGCONT"))))
        const resumedAt = Date.now()

        yield* waitFor(
          "index catches up",
          Effect.promise(() => countDocuments(searchUrl(), settings.search.index).then((n) => n === valid.length)),
          "120 seconds"
        )
        console.log(`[ecommerce] index caught up ${Date.now() - resumedAt} ms after the search engine resumed`)
        yield* Fiber.interrupt(pipeline)

        yield* assertDatabaseMatches(db, valid)
        yield* assertIndexMatches(settings.search.index, valid)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    300_000
  )

  it.live(
    "replicas join, are SIGKILLed, SIGTERMed and rejoin while input arrives: every payment alert exactly once, rows and aggregates equal the reference",
    () =>
      Effect.gen(function*() {
        const { databaseUrl, settings } = scenario("eco-replicas")
        // One transaction a second of event time: about 20 per partition and minute, most minutes with a failed payment.
        const simulator = new EcommerceSimulator(91, 0)
        const start = Date.UTC(2024, 2, 30, 12)
        const total = 24_000
        const input = Array.from({ length: total }, (_, i) => simulator.next(start + i * 1_000))
        // Then one record a day later on each partition: every earlier minute closes.
        const closing = [0, 1, 2].map((partition) => ({
          partition,
          record: simulator.next(start + total * 1_000 + 86_400_000)
        }))
        const partitionOf = new Map<string, number>([
          ...input.map((r): [string, number] => [r.key, partitionForKey(r.key, 3)]),
          ...closing.map(({ partition, record }): [string, number] => [record.key, partition])
        ])
        const valid = validRows([...input, ...closing.map((c) => c.record)])
        const closedBefore = Math.floor((start + total * 1_000 + 86_400_000) / 60_000) * 60_000
        const expected = new Map<string, number>()
        for (const r of valid) {
          const minute = Math.floor(r.transactionTime / 60_000) * 60_000
          if (minute >= closedBefore || !isFailedPayment(r.paymentStatus)) continue
          const key = `${settings.topic}/${partitionOf.get(r.transactionId)}/${new Date(minute).toISOString()}`
          expected.set(key, (expected.get(key) ?? 0) + 1)
        }

        yield* (yield* KafkaAdmin).createTopics([{ topic: settings.topic, partitions: 3 }, {
          topic: settings.alertsTopic,
          partitions: 1
        }])
        const db = yield* database(databaseUrl)
        const alerts: Array<KafkaRecord> = []
        yield* Effect.forkScoped(readAll(settings.alertsTopic, alerts))
        const env = {
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          ECOMMERCE_TOPIC: settings.topic,
          ECOMMERCE_GROUP_ID: settings.groupId,
          PAYMENT_ALERTS_TOPIC: settings.alertsTopic,
          PAYMENT_ALERTS_TRANSACTIONAL_ID: settings.alertsTransactionalId,
          DATABASE_URL: databaseUrl,
          SEARCH_URL: settings.search.url,
          SEARCH_INDEX: settings.search.index,
          LOG_LEVEL: "Warn"
        }
        const replicas: Array<{ readonly name: string; readonly service: RunningService }> = []
        yield* Effect.addFinalizer(() => Effect.sync(() => replicas.forEach((r) => r.service.child.kill("SIGKILL"))))
        /** a and b have stable instance ids (a StatefulSet's pods); c is a dynamic member. */
        const run = (replica: "a" | "b" | "c") =>
          Effect.sync(() => {
            const service = startService(["run", "ecommerce"], {
              ...env,
              KAFKA_CLIENT_ID: `ecommerce-${replica}`,
              ...(replica === "c" ? {} : { KAFKA_GROUP_INSTANCE_ID: `pod-${replica}` })
            })
            replicas.push({ name: replica, service })
          })
        const terminated: Array<RunningService> = []
        const stop = (replica: string, signal: NodeJS.Signals) =>
          Effect.promise(() =>
            Promise.all(
              replicas.filter((r) => r.name === replica && r.service.child.exitCode === null).map((r) => {
                if (signal === "SIGTERM") terminated.push(r.service)
                r.service.child.kill(signal)
                return r.service.exited
              })
            )
          )

        // The feed: 600 records every second (10 minutes of event time), 40 s in all.
        const sink = yield* KafkaSink
        let fed = 0
        const feeder = yield* Effect.forkScoped(Effect.gen(function*() {
          for (let i = 0; i < input.length; i += 600) {
            yield* sink.send(
              input.slice(i, i + 600).map((r) => ({ topic: settings.topic, key: r.key, value: r.value }))
            )
            fed = i + 600
            yield* Effect.sleep("1 second")
          }
          yield* sink.send(
            closing.map(({ partition, record }) => ({
              topic: settings.topic,
              partition,
              key: record.key,
              value: record.value
            }))
          )
        }))
        yield* run("a")
        const changes: ReadonlyArray<readonly [string, Effect.Effect<unknown>]> = [
          ["b joins", run("b")],
          ["a is SIGKILLed", stop("a", "SIGKILL")],
          ["a restarts as the same instance", run("a")],
          ["c joins", run("c")],
          ["b leaves (SIGTERM)", stop("b", "SIGTERM")],
          ["a is SIGKILLed", stop("a", "SIGKILL")],
          ["a restarts", run("a")],
          ["b rejoins", run("b")],
          ["c leaves (SIGTERM)", stop("c", "SIGTERM")],
          ["b is SIGKILLed", stop("b", "SIGKILL")],
          ["b restarts", run("b")]
        ]
        for (const [what, change] of changes) {
          yield* Effect.sleep("3 seconds")
          yield* change
          console.log(`[ecommerce replicas] ${what}: ${alerts.length} alerts, ${fed} records fed`)
        }
        assert.isBelow(fed, input.length, "every change happened while input was still arriving")
        yield* Fiber.join(feeder)
        yield* waitFor("every alert", Effect.sync(() => alerts.length >= expected.size), "120 seconds")
        yield* waitFor(
          "PostgreSQL",
          Effect.map(db.storedOffsets(ecommerceGroups(settings.groupId).postgres), (n) => n === valid.length),
          "120 seconds"
        )
        yield* waitFor(
          "the index",
          Effect.promise(() => countDocuments(searchUrl(), settings.search.index).then((n) => n === valid.length)),
          "120 seconds"
        )
        yield* Effect.sleep("5 seconds") // time for a duplicate to show up, if there were one

        const seen = new Map<string, number>()
        for (const a of alerts) {
          const key = a.key!.toString()
          seen.set(key, (seen.get(key) ?? 0) + 1)
          assert.strictEqual(JSON.parse(a.value!.toString()).failedPayments, expected.get(key), key)
        }
        assert.deepStrictEqual([...seen].filter(([, n]) => n > 1), [], "no alert twice")
        assert.deepStrictEqual([...seen.keys()].sort(), [...expected.keys()].sort(), "every expected alert")
        yield* assertDatabaseMatches(db, valid)
        yield* assertIndexMatches(settings.search.index, valid)
        // SIGTERM mid-stream (mid-transaction, or mid-rebalance) is a clean stop within the grace period.
        for (const t of terminated) assert.strictEqual(yield* Effect.promise(() => t.exited), 0)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    300_000
  )
})

/** Every record of `topic`, as a read-committed consumer sees them (aborted transactions never show). */
const readAll = (topic: string, into: Array<KafkaRecord>) =>
  Effect.gen(function*() {
    const sub = yield* (yield* KafkaSource).subscribe({ groupId: uniqueName("alerts-reader"), topics: [topic] })
    return yield* sub.events.pipe(
      Stream.runForEach((e) => Effect.sync(() => e._tag === "Batch" && into.push(...e.records)))
    )
  }).pipe(Effect.scoped)
