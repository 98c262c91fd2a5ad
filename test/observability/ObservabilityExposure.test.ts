import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Logger, Option, Redacted } from "effect"
import type { ObservabilitySettings } from "../../src/config/ObservabilityConfig.ts"
import { transactionsSettings } from "../../src/config/PipelineConfig.ts"
import { localFeatureStoreLayer, OnlineTables } from "../../src/hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { ObservabilityServer } from "../../src/observability/ObservabilityServer.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import type { ServiceStatus } from "../../src/observability/StatusView.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"

const base: ObservabilitySettings = {
  port: 0,
  host: "127.0.0.1",
  stallTimeoutMs: 60_000,
  brokerContactTimeoutMs: 30_000,
  lagPollIntervalMs: 500,
  showRows: false,
  token: Option.none()
}

/** The server in process over the in-memory broker and the local feature store; log lines go to `logs`. */
const serverLayer = (settings: Partial<ObservabilitySettings>, logs: Array<string> = []) =>
  ObservabilityServer.layerWith({ ...base, ...settings }).pipe(
    Layer.provideMerge(Layer.mergeAll(localFeatureStoreLayer, PipelineRegistry.layer)),
    Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 2 })),
    Layer.provideMerge(Layer.mergeAll(
      ConfigProvider.layer(ConfigProvider.fromEnv({ env: { KAFKA_TOPIC: "tx-exposure", KAFKA_GROUP_ID: "exposure" } })),
      Logger.layer([Logger.make((options) => void logs.push(Logger.formatJson.log(options)))])
    ))
  )

const get = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const res = await fetch(url, { headers, redirect: "manual" })
    return { status: res.status, headers: res.headers, body: await res.text() }
  })

/** Where the request went nowhere (nothing listens there): the error code. */
const refused = (url: string) =>
  Effect.promise(() =>
    fetch(url, { signal: AbortSignal.timeout(3_000) }).then(
      (res) => `answered ${res.status}`,
      (e: unknown) => String((e as { cause?: { code?: string } }).cause?.code ?? e)
    )
  )

// Card numbers, a card-number user id and a category quoting a card: none may leave the process unmasked.
const cardNumbers = ["4111111111111", "5500 0000 0000 0004", "4000056655665556"]
const transactions = Array.from({ length: 20 }, (_, i) => ({
  transaction_id: `4111111111111${String(i).padStart(3, "0")}`,
  event_time: 1_767_225_600_000 + i * 1_000,
  user_id: "5500 0000 0000 0004",
  amount: 10 + i,
  currency: "usd",
  category: `card 4000056655665556 #${i % 2}`
}))

/** Runs the transactions pipeline over `transactions` until the online table has them all; then /api/status and /metrics. */
const statusAfterRun = Effect.gen(function*() {
  const { url } = yield* ObservabilityServer
  const settings = yield* transactionsSettings
  yield* (yield* KafkaAdmin).createTopics([{ topic: settings.topic, partitions: 2 }])
  yield* (yield* KafkaSink).send(
    transactions.map((t) => ({ topic: settings.topic, key: t.transaction_id, value: JSON.stringify(t) }))
  )
  const pipeline = yield* runTransactionsPipeline(settings).pipe(Effect.scoped, Effect.forkChild)
  const online = yield* OnlineTables
  for (let i = 0;; i++) {
    const table = (yield* online.tables).find((t) => t.featureGroup.name === "transactions")
    if (table !== undefined && table.applied === transactions.length) break
    if (i > 200) return yield* Effect.die(new Error("the online table never got every row"))
    yield* Effect.sleep("50 millis")
  }
  const status = yield* get(`${url}/api/status`)
  const metrics = yield* get(`${url}/metrics`)
  yield* Fiber.interrupt(pipeline)
  assert.strictEqual(status.status, 200)
  return { body: status.body, status: JSON.parse(status.body) as ServiceStatus, metrics: metrics.body }
})

describe("what the observability server exposes", () => {
  it.live("binds HTTP_HOST: 127.0.0.1 answers on loopback only", () =>
    Effect.gen(function*() {
      const server = yield* ObservabilityServer
      assert.strictEqual(server.host, "127.0.0.1")
      assert.strictEqual(server.url, `http://127.0.0.1:${server.port}`)
      assert.strictEqual((yield* get(`http://127.0.0.1:${server.port}/healthz`)).status, 200)
      // Another address of this machine (all of 127/8 is local on Linux) finds nothing listening.
      assert.strictEqual(yield* refused(`http://127.0.0.2:${server.port}/healthz`), "ECONNREFUSED")
    }).pipe(Effect.provide(serverLayer({ host: "127.0.0.1" }))))

  it.live("binds HTTP_HOST: 0.0.0.0 (the default, for Kubernetes) answers on every address", () =>
    Effect.gen(function*() {
      const server = yield* ObservabilityServer
      assert.strictEqual(server.host, "0.0.0.0")
      assert.strictEqual(server.url, `http://127.0.0.1:${server.port}`)
      assert.strictEqual((yield* get(`http://127.0.0.2:${server.port}/healthz`)).status, 200)
    }).pipe(Effect.provide(serverLayer({ host: "0.0.0.0" }))))

  it.live(
    "by default /api/status carries no row values: counts yes, rows and card-keyed chart entries no",
    () =>
      Effect.gen(function*() {
        const { body, metrics, status } = yield* statusAfterRun
        assert.isFalse(status.rowPreviews)
        const p = status.pipelines.find((x) => x.name === "transactions")!
        assert.strictEqual(p.recordsOut, transactions.length)
        assert.deepStrictEqual(p.latest, [])
        const table = status.onlineTables.find((t) => t.name === "transactions")!
        assert.strictEqual(table.rows, transactions.length, "the row count stays")
        assert.deepStrictEqual(table.newest, [])
        assert.deepStrictEqual(p.featureRows?.newest, [])
        // Chart keys that were card numbers are row values too; aggregates by currency stay.
        const charts = Object.fromEntries(p.tallies.map((t) => [t.label, t.entries]))
        assert.deepStrictEqual(charts["transactions per category"], [])
        assert.deepStrictEqual(charts["amount per currency"], [["USD", transactions.reduce((a, t) => a + t.amount, 0)]])
        for (const n of cardNumbers) assert.notInclude(body, n)
        assert.notInclude(body, "****", "not even masked")
        // /metrics is open (Prometheus): its chart labels are masked at the source.
        for (const n of cardNumbers) assert.notInclude(metrics, n)
      }).pipe(Effect.provide(serverLayer({}))),
    30_000
  )

  it.live(
    "with DASHBOARD_SHOW_ROWS=true rows are there, card-like values masked to their last four digits",
    () =>
      Effect.gen(function*() {
        const { body, status } = yield* statusAfterRun
        assert.isTrue(status.rowPreviews)
        const p = status.pipelines.find((x) => x.name === "transactions")!
        const table = status.onlineTables.find((t) => t.name === "transactions")!
        assert.strictEqual(p.latest.length, 10)
        assert.isAbove(table.newest.length, 0)
        for (const row of [...p.latest, ...table.newest]) {
          assert.match(String(row["transaction_id"]), /^\*{12}1\d{3}$/)
          assert.strictEqual(row["user_id"], "**** **** **** 0004")
          assert.match(String(row["category"]), /^card \*{12}5556 #[01]$/)
          assert.isNumber(row["event_time"], "times are not card numbers")
          assert.strictEqual(row["currency"], "USD")
        }
        const byId = new Map(transactions.map((t) => [`************${t.transaction_id.slice(-4)}`, t]))
        for (const row of table.newest) {
          assert.strictEqual(row["event_time"], byId.get(String(row["transaction_id"]))!.event_time)
        }
        const categories = p.tallies.find((t) => t.label === "transactions per category")!
        assert.sameMembers(categories.entries.map((e) => e[0]), [
          "card ************5556 #0",
          "card ************5556 #1"
        ])
        for (const n of cardNumbers) assert.notInclude(body, n)
      }).pipe(Effect.provide(serverLayer({ showRows: true }))),
    30_000
  )

  const secret = "dashboard-t0ken-f9c2"
  const logs: Array<string> = []
  it.live("with DASHBOARD_TOKEN: 401 without or with a wrong token, 200 with it; probes and /metrics open", () =>
    Effect.gen(function*() {
      const { url } = yield* ObservabilityServer
      const right = { authorization: `Bearer ${secret}` }
      for (const path of ["/", "/api/status", "/api/nothing-here", "/anything"]) {
        for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Bearer ${secret}x` }]) {
          const res = yield* get(`${url}${path}`, headers)
          assert.strictEqual(res.status, 401, `${path} ${JSON.stringify(headers)}`)
          assert.strictEqual(res.headers.get("www-authenticate"), "Bearer realm=\"tributary\"")
          assert.notInclude(res.body, secret)
        }
      }
      const status = yield* get(`${url}/api/status`, right)
      assert.strictEqual(status.status, 200)
      assert.isArray((JSON.parse(status.body) as ServiceStatus).pipelines)
      const page = yield* get(`${url}/`, right)
      assert.strictEqual(page.status, 200)
      assert.include(page.body, "/api/status")
      assert.notInclude(page.body, secret, "the page never embeds the token")
      // The page alone takes it once in the address; the API does not.
      const opened = yield* get(`${url}/?token=${secret}`)
      assert.strictEqual(opened.status, 200)
      assert.strictEqual(opened.headers.get("referrer-policy"), "no-referrer")
      assert.strictEqual((yield* get(`${url}/?token=wrong`)).status, 401)
      assert.strictEqual((yield* get(`${url}/api/status?token=${secret}`)).status, 401)
      assert.strictEqual((yield* get(`${url}/api/nothing-here`, right)).status, 404)
      // Probes and Prometheus carry no token.
      assert.strictEqual((yield* get(`${url}/metrics`)).status, 200)
      assert.strictEqual((yield* get(`${url}/healthz`)).status, 200)
      assert.strictEqual((yield* get(`${url}/readyz`)).status, 503, "answers (not ready: no pipeline), not 401")
      assert.strictEqual((yield* get(`${url}/metrics`, { authorization: "Bearer wrong" })).status, 200)
      // Never logged; the start-up line says a token is needed.
      assert.isTrue(logs.some((l) => l.includes("dashboard and /api need DASHBOARD_TOKEN")))
      for (const line of logs) assert.notInclude(line, secret)
    }).pipe(Effect.provide(serverLayer({ token: Option.some(Redacted.make(secret)) }, logs))))
})
