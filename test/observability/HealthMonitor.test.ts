import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PrometheusMetrics } from "effect/observability"
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
  lagPollIntervalMs: 100
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
      assert.strictEqual(
        metricValue(samples, "tributary_pipeline_tally", { ...p, tally: "events per type", key: "click" }),
        3
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
