import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { OnlineTables } from "../../src/hopsworks/LocalFeatureStore.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { HealthMonitor } from "../../src/observability/HealthMonitor.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { metricValue, parsePrometheus } from "./PrometheusText.ts"

const monitorLayer = HealthMonitor.layer({
  port: 0,
  host: "127.0.0.1",
  stallTimeoutMs: 400,
  brokerContactTimeoutMs: 30_000,
  lagPollIntervalMs: 100,
  showRows: false,
  token: Option.none()
}).pipe(
  Layer.provideMerge(Layer.mergeAll(PipelineRegistry.layer, OnlineTables.layerRemote)),
  Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 2 }))
)

const until = <A>(what: string, check: Effect.Effect<A | undefined>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const a = yield* check
      if (a !== undefined) return a
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting until ${what}`))
  })

describe("HealthMonitor with a runner that reports through PipelineStats", () => {
  it.live("computes lag per owned partition from the group's commits, flags a stall, recovers", () =>
    Effect.gen(function*() {
      const topic = "lag-topic"
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
      const records = (partition: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({ topic, partition, key: `k${i}`, value: `{"n":${i}}` }))
      yield* (yield* KafkaSink).send([...records(0, 50), ...records(1, 30)])
      const broker = yield* InMemoryBroker
      broker.commit("lag-group", [{ topic, partition: 0, offset: "20" }])

      const stats = yield* (yield* PipelineRegistry).register("lagging")
      stats.attachSource({ groupId: "lag-group", topics: [topic] })
      yield* stats.assignment("Assigned", [{ topic, partition: 0 }, { topic, partition: 1 }])
      const monitor = yield* HealthMonitor

      const lagging = yield* until(
        "lag known",
        Effect.map(monitor.status, (s) => {
          const p = s.pipelines[0]!
          return p.lag === 60 ? p : undefined
        })
      )
      assert.deepStrictEqual(lagging.partitions.map((x) => [x.partition, x.committedOffset, x.highWatermark, x.lag]), [
        [0, "20", "50", 30],
        [1, "0", "30", 30]
      ])
      assert.strictEqual(lagging.groupId, "lag-group")

      // Lag and no progress for longer than the stall timeout: stalled, not ready, with the reason.
      const stalled = yield* until(
        "stalled",
        Effect.map(monitor.readiness, (r) => (r.pipelines[0]?.stalled ? r : undefined))
      )
      assert.isFalse(stalled.ready)
      assert.match(stalled.reasons.join("\n"), /lagging: stalled \(lag 60, no progress for \d+s\)/)

      // It reads everything, but its commit stays behind (a windowed pipeline's safe offset waits for open
      // windows): the consumer lag still shows, yet nothing is unprocessed, so it is not stalled.
      yield* stats.consumed(30, { topic, partition: 0, lastOffset: "49" })
      yield* stats.consumed(30, { topic, partition: 1, lastOffset: "29" })
      const caughtUp = yield* until("ready", Effect.map(monitor.readiness, (r) => (r.ready ? r : undefined)))
      assert.deepStrictEqual(caughtUp.reasons, [])
      assert.strictEqual((yield* monitor.status).pipelines[0]!.lag, 60)

      broker.commit("lag-group", [{ topic, partition: 0, offset: "50" }, { topic, partition: 1, offset: "30" }])
      yield* until("lag 0", Effect.map(monitor.status, (s) => (s.pipelines[0]!.lag === 0 ? s : undefined)))
      assert.isTrue((yield* monitor.readiness).ready)
    }).pipe(Effect.provide(monitorLayer)))

  it.live("exports per-partition counts, rates, lag, watermark delay, window state, latencies, errors and tallies", () =>
    Effect.gen(function*() {
      const topic = "metrics-topic"
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
      const stats = yield* (yield* PipelineRegistry).register("unit-metrics")
      stats.attachSource({ groupId: "metrics-group", topics: [topic] })
      stats.describe({ stages: ["decode", "window 1 min"], sinks: ["fingerprint-output"] })
      yield* stats.assignment("Assigned", [{ topic, partition: 0 }, { topic, partition: 1 }])
      yield* stats.consumed(7, { topic, partition: 1, lastOffset: "6" })
      yield* stats.written([{ a: 1 }, { a: 2 }], { topic, partition: 1 })
      yield* stats.timed("kafka", Effect.sleep("5 millis"))
      yield* stats.committed([{ topic, partition: 1, offset: "7" }], 3)
      yield* stats.failed("sink-retry")
      yield* stats.tally("events per type", "click", 3)
      yield* stats.tally("events per type", "view")
      stats.windowState({ openWindows: 4, stateSize: 40, watermark: Date.now() - 5_000 })
      const monitor = yield* HealthMonitor
      yield* until("lag polled", Effect.map(monitor.status, (s) => (s.pipelines[0]?.lag !== undefined ? s : undefined)))

      yield* monitor.refreshMetrics
      const text = yield* PrometheusMetrics.format()
      const samples = parsePrometheus(text)
      const p = { pipeline: "unit-metrics" }
      const p1 = { ...p, topic, partition: "1" }
      assert.strictEqual(metricValue(samples, "tributary_partition_records_in_total", p1), 7)
      assert.strictEqual(metricValue(samples, "tributary_partition_records_out_total", p1), 2)
      assert.strictEqual(metricValue(samples, "tributary_consumer_lag", { ...p1, group: "metrics-group" }), 0)
      assert.strictEqual(metricValue(samples, "tributary_open_windows", p), 4)
      assert.strictEqual(metricValue(samples, "tributary_window_state_records", p), 40)
      assert.approximately(metricValue(samples, "tributary_watermark_delay_seconds", p)!, 5, 2)
      assert.strictEqual(metricValue(samples, "tributary_sink_latency_seconds_count", { ...p, sink: "kafka" }), 1)
      assert.strictEqual(metricValue(samples, "tributary_commit_latency_seconds_count", p), 1)
      assert.strictEqual(metricValue(samples, "tributary_commits_total", p), 1)
      assert.strictEqual(metricValue(samples, "tributary_errors_total", { ...p, type: "sink-retry" }), 1)
      assert.strictEqual(metricValue(samples, "tributary_rebalances_total", { ...p, kind: "assigned" }), 1)
      // Chart keys (event types, categories, equipment ids...) come from record data: as metric labels they
      // would grow series without bound and carry record values into Prometheus, so since issue 19 they are
      // on the dashboard (/api/status) only, never on /metrics.
      assert.notMatch(text, /tributary_pipeline_tally/)
      assert.notMatch(text, /key="click"/)
      assert.deepStrictEqual(
        (yield* monitor.status).pipelines[0]!.tallies.find((t) => t.label === "events per type")?.entries[0],
        ["click", 3]
      )
      assert.match(text, /# TYPE tributary_sink_latency_seconds histogram/)

      // Revoked partitions disappear from the per-partition gauges.
      yield* stats.assignment("Revoked", [{ topic, partition: 1 }])
      yield* monitor.refreshMetrics
      const after = parsePrometheus(yield* PrometheusMetrics.format())
      assert.isUndefined(metricValue(after, "tributary_consumer_lag", { ...p1, group: "metrics-group" }))

      const status = (yield* monitor.status).pipelines[0]!
      assert.deepStrictEqual(status.topology, {
        sources: [topic],
        stages: ["decode", "window 1 min"],
        sinks: ["fingerprint-output"]
      })
      assert.deepStrictEqual(status.tallies, [{ label: "events per type", entries: [["click", 3], ["view", 1]] }])
      assert.strictEqual(status.errors["sink-retry"], 1)
    }).pipe(Effect.provide(monitorLayer)))
})

/** Settings for the virtual-clock tests: a lag poll every second, stalled after 30 s without progress. */
const clockLayer = HealthMonitor.layer({
  port: 0,
  host: "127.0.0.1",
  stallTimeoutMs: 30_000,
  brokerContactTimeoutMs: 30_000,
  lagPollIntervalMs: 1_000,
  showRows: false,
  token: Option.none()
}).pipe(
  Layer.provideMerge(Layer.mergeAll(PipelineRegistry.layer, OnlineTables.layerRemote)),
  Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 1 }))
)

describe("HealthMonitor on the virtual clock", () => {
  it.effect("stalled exactly when lag has gone without progress for longer than the stall timeout", () =>
    Effect.gen(function*() {
      const topic = "stall-topic"
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
      yield* (yield* KafkaSink).send(
        Array.from({ length: 50 }, (_, i) => ({ topic, partition: 0, key: `k${i}`, value: "{}" }))
      )
      const stats = yield* (yield* PipelineRegistry).register("idle")
      stats.attachSource({ groupId: "stall-group", topics: [topic] })
      yield* stats.assignment("Assigned", [{ topic, partition: 0 }])
      const monitor = yield* HealthMonitor
      const readyAt = (ms: number) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(ms)
          return yield* monitor.readiness
        })

      // Lag polls run at 0.5 s, 1.5 s, ...: the first one sees 50 records waiting and nothing consumed.
      // The timeout counts from then, as the pipeline could not have taken records it did not have.
      assert.isTrue((yield* readyAt(30_500)).ready)
      const stalled = yield* readyAt(30_501)
      assert.isFalse(stalled.ready)
      assert.isTrue(stalled.pipelines[0]!.stalled)
      assert.deepStrictEqual(stalled.reasons, ["idle: stalled (lag 50, no progress for 30s)"])
      const status = (yield* monitor.status).pipelines[0]!
      assert.deepStrictEqual([status.lag, status.ready, status.stalled], [50, false, true])

      // A batch is progress: ready at once, and the timeout restarts from that batch although 40 records wait.
      yield* stats.consumed(10, { topic, partition: 0, lastOffset: "9" })
      assert.isTrue((yield* monitor.readiness).ready)
      assert.isTrue((yield* readyAt(60_501)).ready)
      assert.strictEqual((yield* monitor.status).pipelines[0]!.lag, 40)
      assert.deepStrictEqual((yield* readyAt(60_502)).reasons, ["idle: stalled (lag 40, no progress for 30s)"])

      // Caught up: no lag left, so idling is not stalling, however long it lasts.
      yield* stats.consumed(40, { topic, partition: 0, lastOffset: "49" })
      assert.isTrue((yield* readyAt(300_000)).ready)
      assert.strictEqual((yield* monitor.status).pipelines[0]!.lag, 0)
    }).pipe(Effect.provide(clockLayer)))

  it.effect("status and /metrics carry the throughput sampled on the virtual clock", () =>
    Effect.gen(function*() {
      const stats = yield* (yield* PipelineRegistry).register("steady")
      const monitor = yield* HealthMonitor
      // Samples at 0 s, 1 s, 2 s...; a batch of 250 records in and 50 rows out half-way between each two.
      yield* TestClock.adjust("500 millis")
      for (let i = 0; i < 8; i++) {
        yield* stats.consumed(250)
        yield* stats.written(Array.from({ length: 50 }, () => ({})))
        yield* TestClock.adjust("1 second")
      }
      const p = (yield* monitor.status).pipelines[0]!
      assert.deepStrictEqual([p.inPerSecond, p.outPerSecond], [250, 50])
      assert.deepStrictEqual(p.history.slice(-2), [{ t: 7_000, in: 250, out: 50 }, { t: 8_000, in: 250, out: 50 }])

      yield* monitor.refreshMetrics
      const samples = parsePrometheus(yield* PrometheusMetrics.format())
      assert.strictEqual(metricValue(samples, "tributary_records_in_per_second", { pipeline: "steady" }), 250)
      assert.strictEqual(metricValue(samples, "tributary_records_out_per_second", { pipeline: "steady" }), 50)
      assert.strictEqual(metricValue(samples, "tributary_uptime_seconds", {}), 8.5)
    }).pipe(Effect.provide(clockLayer)))
})
