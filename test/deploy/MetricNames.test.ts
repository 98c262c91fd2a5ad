/**
 * The alert rules and the Grafana dashboard query only metrics the service really exports, with labels
 * those metrics really carry. The names come from scraping /metrics, never from a list kept here: the
 * service as an operator runs it (`node dist/main.js run transactions`, the embedded demo) and, in
 * process, the exporter after every kind of pipeline event (late records, retried errors, windows) that
 * a short demo run does not produce. Renaming a metric or a label fails this test until the rules and
 * the dashboard follow.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Option } from "effect"
import type { ObservabilitySettings } from "../../src/config/ObservabilityConfig.ts"
import { deadLetterMaxBytes } from "../../src/config/PipelineConfig.ts"
import { localFeatureStoreLayer } from "../../src/hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { ObservabilityServer } from "../../src/observability/ObservabilityServer.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { TransactionsSimulator } from "../../src/simulator/TransactionsSimulator.ts"
import { parsePrometheus, type Sample } from "../observability/PrometheusText.ts"
import { eventually, freePort, getText, stopService } from "../observability/support/ObservedService.ts"
import { startService } from "../support/ServiceProcess.ts"
import { arr, loadYaml, obj, promqlNames, readText } from "./DeployFiles.ts"

/** Labels Prometheus adds to every scraped series (target labels), not the service. */
const targetLabels = new Set(["instance", "job"])

/** Metric name → the label names its samples carry, over every sample scraped. */
type Exported = Map<string, Set<string>>
const collect = (into: Exported, samples: ReadonlyArray<Sample>): Exported => {
  for (const s of samples) {
    const labels = into.get(s.name) ?? new Set<string>()
    for (const l of Object.keys(s.labels)) labels.add(l)
    into.set(s.name, labels)
  }
  return into
}

/** Every PromQL expression of the alert rules and the dashboard, with where it is. */
const queries = (): Array<{ where: string; expr: string }> => {
  const rules = loadYaml("deploy", "prometheus", "tributary-alerts.yml").flatMap((doc) =>
    arr(obj(doc, "rules")["groups"], "groups").flatMap((g) =>
      arr(obj(g, "group")["rules"], "rules").map((r) => obj(r, "rule"))
    )
  )
  const dashboard = obj(JSON.parse(readText("deploy", "grafana", "tributary-dashboard.json")), "dashboard")
  const panels = arr(dashboard["panels"], "panels").map((p) => obj(p, "panel"))
  const variables = arr(obj(dashboard["templating"], "templating")["list"], "templating list").map((v) =>
    obj(v, "variable")
  )
  return [
    ...rules.map((r) => ({ where: `alert ${String(r["alert"])}`, expr: String(r["expr"]) })),
    ...panels.flatMap((p) =>
      arr(p["targets"], "targets").map((t) => ({
        where: `panel "${String(p["title"])}"`,
        expr: String(obj(t, "target")["expr"])
      }))
    ),
    ...variables.filter((v) => v["type"] === "query").map((v) => ({
      where: `variable $${String(v["name"])}`,
      // label_values(<selector>, <label>): the selector is PromQL, the label one of its labels.
      expr: String(v["definition"]).replace(/^label_values\((.*),\s*(\w+)\)$/, "$1 by ($2)")
    }))
  ]
}

/** Scrapes the real service, the embedded demo of the transactions pipeline, once it has written rows. */
const scrapeService = async (): Promise<Array<Sample>> => {
  const port = await freePort()
  const service = startService(["run", "transactions"], { METRICS_PORT: String(port) })
  try {
    return await eventually(
      "the demo exports records in, out and dead letters",
      async () => {
        const r = await getText(`http://127.0.0.1:${port}/metrics`)
        const samples = parsePrometheus(r.body)
        const names = new Set(samples.map((s) => s.name))
        return ["tributary_records_out_total", "tributary_dead_letters_total", "tributary_consumer_lag"].every((n) =>
            names.has(n)
          )
          ? samples
          : undefined
      },
      45_000,
      service
    )
  } finally {
    await stopService(service)
  }
}

const settings: ObservabilitySettings = {
  port: 0,
  host: "127.0.0.1",
  stallTimeoutMs: 60_000,
  brokerContactTimeoutMs: 30_000,
  lagPollIntervalMs: 300,
  showRows: false,
  token: Option.none()
}

const inProcess = ObservabilityServer.layerWith(settings).pipe(
  Layer.provideMerge(Layer.mergeAll(localFeatureStoreLayer, PipelineRegistry.layer)),
  Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 3 }))
)

/**
 * The exporter in process: the transactions pipeline over the in-memory broker, plus a windowed
 * pipeline's figures reported through the same PipelineStats calls the runner makes (late records, a
 * retried KafkaError, window state and watermark).
 */
const scrapeInProcess = Effect.gen(function*() {
  const { url } = yield* ObservabilityServer
  const admin = yield* KafkaAdmin
  const topic = "deploy-metric-names"
  yield* admin.createTopics([{ topic, partitions: 3 }])
  const simulator = new TransactionsSimulator(5, 0.1)
  const input = Array.from({ length: 300 }, (_, i) => simulator.next(1_767_225_600_000 + i * 1000))
  yield* (yield* KafkaSink).send(input.map((r) => ({ topic, key: r.key, value: r.value })))
  const pipeline = yield* runTransactionsPipeline({
    topic,
    groupId: "deploy-metric-names",
    featureGroupName: "transactions",
    featureGroupVersion: 1,
    input: { format: "json" },
    deadLetters: { policy: "dead-letter", topic: Option.none(), maxRecordBytes: deadLetterMaxBytes }
  }).pipe(Effect.scoped, Effect.forkChild)

  const registry = yield* PipelineRegistry
  const windowed = yield* registry.register("card-aggregates")
  const now = yield* Clock.currentTimeMillis
  yield* windowed.assignment("Assigned", [{ topic: "credit_card_transactions", partition: 0 }])
  yield* windowed.consumed(10, { topic: "credit_card_transactions", partition: 0, lastOffset: "9" })
  yield* windowed.lateArrivals(2)
  yield* windowed.failed("KafkaError")
  windowed.windowState({ openWindows: 4, stateSize: 8, watermark: now - 90_000 })

  const samples = yield* Effect.promise(() =>
    eventually("the exporter shows lag and every pipeline figure", async () => {
      const scraped = parsePrometheus((await getText(`${url}/metrics`)).body)
      const names = new Set(scraped.map((s) => s.name))
      const wanted = [
        "tributary_consumer_lag",
        "tributary_records_out_total",
        "tributary_sink_latency_seconds_bucket",
        "tributary_commit_latency_seconds_bucket",
        "tributary_late_records_total",
        "tributary_watermark_delay_seconds"
      ]
      return wanted.every((n) => names.has(n)) ? scraped : undefined
    }, 30_000)
  )
  yield* Fiber.interrupt(pipeline)
  return samples
})

describe("metric names in deploy/prometheus and deploy/grafana", () => {
  it.live("are all exported by the service, with the labels the queries use", () =>
    Effect.gen(function*() {
      const fromService = yield* Effect.promise(scrapeService)
      const fromExporter = yield* scrapeInProcess.pipe(Effect.provide(inProcess))
      const exported = collect(collect(new Map(), fromService), fromExporter)
      // The scrape is the real thing: the usual figures are in it.
      for (const name of ["tributary_records_in_total", "tributary_ready", "tributary_uptime_seconds"]) {
        assert.isTrue(exported.has(name), `${name} in the scrape`)
      }

      const all = queries()
      assert.isAbove(all.length, 20)
      const problems: Array<string> = []
      for (const { where, expr } of all) {
        const { labels, metrics } = promqlNames(expr)
        if (metrics.size === 0) problems.push(`${where}: no metric in ${expr}`)
        const carried = new Set(targetLabels)
        for (const m of metrics) {
          const labelsOfMetric = exported.get(m)
          if (labelsOfMetric === undefined) problems.push(`${where}: ${m} is not exported`)
          else for (const l of labelsOfMetric) carried.add(l)
        }
        for (const l of labels) if (!carried.has(l)) problems.push(`${where}: no label ${l} on ${[...metrics]}`)
      }
      assert.deepStrictEqual(problems, [])
    }), 120_000)

  it("reads metric and label names out of PromQL", () => {
    const q = promqlNames(
      "histogram_quantile(0.99, sum by (pipeline, le) (rate(tributary_sink_latency_seconds_bucket{pipeline=~\"$pipeline\"}[$__rate_interval]))) > 1e3 unless on (instance) up offset 5m"
    )
    assert.deepStrictEqual([...q.metrics].sort(), ["tributary_sink_latency_seconds_bucket", "up"])
    assert.deepStrictEqual([...q.labels].sort(), ["instance", "le", "pipeline"])
  })
})
