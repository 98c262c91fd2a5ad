import { Clock, Context, Effect, Layer, Metric } from "effect"
import type { ObservabilitySettings } from "../config/ObservabilityConfig.ts"
import { ownedLag } from "./LagProbe.ts"
import { isConnected } from "./Readiness.ts"
import { HealthSources, StatusView } from "./StatusView.ts"

// Gauges and counters read from the pipelines' plain figures when /metrics is scraped

const gauge = (name: string, description: string) => Metric.gauge(name, { description })
const gauges = {
  inRate: gauge("tributary_records_in_per_second", "Records consumed per second (last 5 s)"),
  outRate: gauge("tributary_records_out_per_second", "Rows written per second (last 5 s)"),
  partitionInRate: gauge("tributary_partition_records_in_per_second", "Records consumed per second, per partition"),
  lag: gauge("tributary_consumer_lag", "Records not yet committed by the pipeline's group, per owned partition"),
  pipelineLag: gauge("tributary_pipeline_consumer_lag", "Sum of consumer lag over the partitions a pipeline owns"),
  watermark: gauge("tributary_watermark_timestamp_seconds", "Pipeline event-time watermark (epoch seconds)"),
  watermarkDelay: gauge("tributary_watermark_delay_seconds", "Wall clock minus the pipeline watermark"),
  openWindows: gauge("tributary_open_windows", "Open (key, window) states of a windowed pipeline"),
  stateSize: gauge("tributary_window_state_records", "Records held in open windows (approximate state size)"),
  assigned: gauge("tributary_assigned_partitions", "Source partitions this process owns"),
  pipelineReady: gauge("tributary_pipeline_ready", "1 when the pipeline is ready, else 0"),
  stalled: gauge("tributary_pipeline_stalled", "1 when the pipeline has lag and makes no progress"),
  ready: gauge("tributary_ready", "1 when the service is ready (what /readyz answers)"),
  brokerReachable: gauge("tributary_kafka_broker_reachable", "1 when the last broker probe answered"),
  consumerConnected: gauge("tributary_kafka_consumer_connected", "1 when a Kafka consumer heard from its brokers"),
  onlineRows: gauge("tributary_online_table_rows", "Rows in the local online feature store"),
  uptime: gauge("tributary_uptime_seconds", "Seconds since the service started")
}
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const counters = {
  commits: counter("tributary_commits_total", "Offset commits (or transactions carrying offsets)"),
  crashes: counter("tributary_kafka_consumer_crashes_total", "kafkajs consumer crashes (restarted or not)"),
  requestTimeouts: counter("tributary_kafka_request_timeouts_total", "kafkajs request timeouts"),
  groupJoins: counter("tributary_kafka_group_joins_total", "Consumer group joins (each follows a rebalance)")
}

type Attrs = Record<string, string>
const seriesKey = (m: Metric.Metric<never, unknown>, attrs: Attrs) => `${m.id}${JSON.stringify(attrs)}`

/** Sets gauges each refresh and removes the series not set any more (e.g. revoked partitions). */
class SeriesUpdates {
  private previous = new Map<string, Effect.Effect<void>>()
  private current = new Map<string, Effect.Effect<void>>()
  private readonly counted = new Map<string, number>()
  private readonly updates: Array<Effect.Effect<void>> = []

  set(m: Metric.Gauge<number>, attrs: Attrs, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return
    const tagged = Metric.withAttributes(m, attrs)
    this.current.set(seriesKey(m, attrs), Metric.remove(tagged))
    this.updates.push(Metric.update(tagged, value))
  }

  /** Advances a counter to `total` (a cumulative figure kept elsewhere). */
  total(m: Metric.Counter<number>, attrs: Attrs, total: number): void {
    const key = seriesKey(m, attrs)
    const delta = total - (this.counted.get(key) ?? 0)
    if (delta <= 0) return
    this.counted.set(key, total)
    this.updates.push(Metric.update(Metric.withAttributes(m, attrs), delta))
  }

  flush(): Effect.Effect<void> {
    const stale = [...this.previous].filter(([k]) => !this.current.has(k)).map(([, remove]) => remove)
    const all = [...this.updates.splice(0), ...stale]
    this.previous = this.current
    this.current = new Map()
    return Effect.all(all, { discard: true })
  }
}

/**
 * The figures the health monitor derives (rates, lag, watermark delay, readiness, uptime...) as
 * Effect metrics, for `PrometheusMetrics.format()` to write out at /metrics.
 */
export class PrometheusExporter extends Context.Service<PrometheusExporter, {
  /** Brings the derived gauges and counters up to date; run before formatting metrics. */
  readonly refresh: Effect.Effect<void>
}>()("tributary/observability/PrometheusExporter") {
  static readonly layer = (settings: Pick<ObservabilitySettings, "brokerContactTimeoutMs">) =>
    Layer.effect(
      PrometheusExporter,
      Effect.gen(function*() {
        const { connections, online, probe, registry, sampler, startedAt } = yield* HealthSources
        const view = yield* StatusView
        const series = new SeriesUpdates()

        const refresh = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const pipelines = yield* registry.all
          const lags = yield* probe.current
          const throughput = yield* sampler.current
          const r = yield* view.readiness
          for (const p of pipelines) {
            const lag = lags.of(p.name)
            const tp = throughput(p.name)
            const a = { pipeline: p.name }
            series.set(gauges.inRate, a, tp.inPerSecond)
            series.set(gauges.outRate, a, tp.outPerSecond)
            for (const f of p.partitions.values()) {
              const key = `${f.topic}:${f.partition}`
              if (p.assigned.size > 0 && !p.assigned.has(key)) continue
              series.set(
                gauges.partitionInRate,
                { ...a, topic: f.topic, partition: String(f.partition) },
                tp.partitionInPerSecond(key)
              )
            }
            for (const [key, l] of lag.partitions) {
              if (p.assigned.size > 0 && !p.assigned.has(key)) continue
              const colon = key.lastIndexOf(":")
              series.set(gauges.lag, {
                ...a,
                group: lag.groupId ?? "",
                topic: key.slice(0, colon),
                partition: key.slice(colon + 1)
              }, l.lag)
            }
            series.set(gauges.pipelineLag, a, ownedLag(p, lag))
            if (p.watermark !== undefined && Number.isFinite(p.watermark)) {
              series.set(gauges.watermark, a, p.watermark / 1000)
              series.set(gauges.watermarkDelay, a, (now - p.watermark) / 1000)
            }
            series.set(gauges.openWindows, a, p.openWindows)
            series.set(gauges.stateSize, a, p.stateSize)
            series.set(gauges.assigned, a, p.assigned.size)
            const pr = r.pipelines.find((x) => x.name === p.name)
            series.set(gauges.pipelineReady, a, pr?.ready === true ? 1 : 0)
            series.set(gauges.stalled, a, pr?.stalled === true ? 1 : 0)
            series.total(counters.commits, a, p.commits)
            // Chart figures (p.tallies) stay off /metrics: their keys are record values (event types, card
            // numbers...), which as labels would make unbounded series and carry data into Prometheus.
          }
          series.set(gauges.ready, {}, r.ready ? 1 : 0)
          if (lags.broker.reachable !== undefined) {
            series.set(gauges.brokerReachable, {}, lags.broker.reachable ? 1 : 0)
          }
          for (const c of connections) {
            const a = { group: c.groupId }
            series.set(gauges.consumerConnected, a, isConnected(c, now, settings.brokerContactTimeoutMs) ? 1 : 0)
            series.total(counters.crashes, a, c.crashes)
            series.total(counters.requestTimeouts, a, c.requestTimeouts)
            series.total(counters.groupJoins, a, c.rebalances)
          }
          for (const tb of yield* online.tables) {
            series.set(
              gauges.onlineRows,
              { feature_group: `${tb.featureGroup.name}_${tb.featureGroup.version}` },
              tb.rows.size
            )
          }
          series.set(gauges.uptime, {}, (now - startedAt) / 1000)
          yield* series.flush()
        })

        return PrometheusExporter.of({ refresh })
      })
    )
}
