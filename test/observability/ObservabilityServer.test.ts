import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option } from "effect"
import type { ObservabilitySettings } from "../../src/config/ObservabilityConfig.ts"
import { deadLetterMaxBytes } from "../../src/config/PipelineConfig.ts"
import { localFeatureStoreLayer, OnlineTables } from "../../src/hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { ObservabilityServer } from "../../src/observability/ObservabilityServer.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import type { ServiceStatus } from "../../src/observability/StatusView.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { TransactionsSimulator } from "../../src/simulator/TransactionsSimulator.ts"
import { metricValue, parsePrometheus } from "./PrometheusText.ts"

const settings: ObservabilitySettings = {
  port: 0,
  host: "127.0.0.1",
  stallTimeoutMs: 60_000,
  brokerContactTimeoutMs: 30_000,
  lagPollIntervalMs: 500,
  // This test reads the newest rows from /api/status (off by default: see ObservabilityExposure.test.ts).
  showRows: true,
  token: Option.none()
}

/** The server in process, over the in-memory broker and the local feature store, as the embedded demo runs. */
const testLayer = ObservabilityServer.layerWith(settings).pipe(
  Layer.provideMerge(Layer.mergeAll(localFeatureStoreLayer, PipelineRegistry.layer)),
  Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 3 }))
)

const get = (url: string) =>
  Effect.promise(async () => {
    const res = await fetch(url)
    return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() }
  })

const waitUntil = <A>(what: string, check: Effect.Effect<A | undefined>, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const a = yield* check
      if (a !== undefined) return a
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep("100 millis")
    }
  })

describe("ObservabilityServer (in process, in-memory broker, transactions pipeline)", () => {
  it.live(
    "exports records in/out and dead letters that match what the pipeline consumed and wrote",
    () =>
      Effect.gen(function*() {
        const { url } = yield* ObservabilityServer
        const admin = yield* KafkaAdmin
        const broker = yield* InMemoryBroker
        const topic = "transactions-obs"
        yield* admin.createTopics([{ topic, partitions: 3 }])
        const simulator = new TransactionsSimulator(99, 0.08)
        const input = Array.from({ length: 900 }, (_, i) => simulator.next(1_767_225_600_000 + i * 1000))
        const malformed = input.filter((r) => r.malformed).length
        assert.isAbove(malformed, 20)
        yield* (yield* KafkaSink).send(input.map((r) => ({ topic, key: r.key, value: r.value })))

        const pipeline = yield* runTransactionsPipeline({
          topic,
          groupId: "obs-test",
          featureGroupName: "transactions",
          featureGroupVersion: 1,
          input: { format: "json" },
          deadLetters: { policy: "dead-letter", topic: Option.none(), maxRecordBytes: deadLetterMaxBytes }
        }).pipe(Effect.scoped, Effect.forkChild)

        const registry = yield* PipelineRegistry
        const stats = yield* waitUntil(
          "all records consumed",
          Effect.map(registry.all, (ps) => {
            const p = ps.find((x) => x.name === "transactions")
            return p !== undefined && p.recordsIn === input.length && p.recordsOut + p.deadLettered === input.length
              ? p
              : undefined
          })
        )

        const metrics = yield* get(`${url}/metrics`)
        assert.strictEqual(metrics.status, 200)
        assert.include(metrics.type, "text/plain")
        const samples = parsePrometheus(metrics.body)
        const one = { pipeline: "transactions" }
        assert.strictEqual(metricValue(samples, "tributary_records_in_total", one), input.length)
        assert.strictEqual(metricValue(samples, "tributary_records_out_total", one), input.length - malformed)
        assert.strictEqual(
          metricValue(samples, "tributary_dead_letters_total", { pipeline: "transactions", policy: "dead-letter" }),
          malformed
        )
        assert.strictEqual(stats.recordsOut, input.length - malformed)
        // ...and they match what reached the broker: the dead-letter topic and the feature group's topic.
        assert.strictEqual(broker.read(`${topic}.dlq`).flat().length, malformed)
        const featureRows = broker.read("tributary_onlinefs").flat().length
        assert.strictEqual(featureRows, input.length - malformed)
        assert.match(metrics.body, /# TYPE tributary_records_in_total counter/)
        assert.match(metrics.body, /tributary_uptime_seconds \d/)
        assert.match(metrics.body, /tributary_ready [01]/)
        assert.match(metrics.body, /tributary_assigned_partitions\{pipeline="transactions"\} 3/)

        // The status JSON carries the same figures, plus the newest feature rows from the online table.
        const online = yield* OnlineTables
        yield* waitUntil(
          "online table filled",
          Effect.map(online.tables, (ts) => {
            const t = ts.find((x) => x.featureGroup.name === "transactions")
            return t !== undefined && t.applied === input.length - malformed ? t : undefined
          })
        )
        const status = JSON.parse((yield* get(`${url}/api/status`)).body) as ServiceStatus
        const p = status.pipelines.find((x) => x.name === "transactions")!
        assert.strictEqual(p.recordsIn, input.length)
        assert.strictEqual(p.recordsOut, input.length - malformed)
        assert.strictEqual(p.deadLettered, malformed)
        assert.strictEqual(p.latest.length, 10)
        const table = status.onlineTables.find((t) => t.name === "transactions")!
        assert.strictEqual(table.applied, input.length - malformed)
        assert.isAbove(table.newest.length, 0)
        assert.property(table.newest[0]!, "transaction_id")

        // Health: alive, and ready (partitions assigned, broker answers, nothing stalled).
        const health = yield* get(`${url}/healthz`)
        assert.strictEqual(health.status, 200)
        assert.strictEqual((JSON.parse(health.body) as { status: string }).status, "alive")
        const ready = yield* waitUntil(
          "ready",
          Effect.map(get(`${url}/readyz`), (r) => (r.status === 200 ? r : undefined))
        )
        assert.deepInclude(JSON.parse(ready.body), { status: "ready", reasons: [] })

        yield* Fiber.interrupt(pipeline)
      }).pipe(Effect.provide(testLayer)),
    30_000
  )

  it.live("serves one self-contained dashboard page: no external script, style, font or image", () =>
    Effect.gen(function*() {
      const { url } = yield* ObservabilityServer
      const page = yield* get(`${url}/`)
      assert.strictEqual(page.status, 200)
      assert.include(page.type, "text/html")
      assert.include(page.body, "/api/status")
      assert.notMatch(page.body, /(src|href)\s*=\s*["']?(https?:)?\/\//i, "no asset from another origin")
      assert.notMatch(page.body, /@import|url\(\s*["']?https?:/i)
      assert.notMatch(page.body, /<script[^>]+src=/i, "scripts are inline")
      assert.notMatch(page.body, /<link[^>]+stylesheet/i, "styles are inline")
    }).pipe(Effect.provide(testLayer)))

  it.live("is not ready before any pipeline runs, and says why", () =>
    Effect.gen(function*() {
      const { url } = yield* ObservabilityServer
      const ready = yield* get(`${url}/readyz`)
      assert.strictEqual(ready.status, 503)
      const body = JSON.parse(ready.body) as { status: string; reasons: Array<string> }
      // Since issue 19 start-up is its own state (was "not ready"): still 503, but says the process is starting.
      assert.strictEqual(body.status, "startup")
      assert.include(body.reasons.join(" "), "no pipeline running yet")
    }).pipe(Effect.provide(testLayer)))
})
