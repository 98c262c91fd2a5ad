import { Context, Effect, Layer } from "effect"
import type { ObservabilitySettings } from "../config/ObservabilityConfig.ts"
import { LagProbe } from "./LagProbe.ts"
import { PrometheusExporter } from "./PrometheusExporter.ts"
import type { Readiness } from "./Readiness.ts"
import { type ServiceStatus, StatusView } from "./StatusView.ts"
import { ThroughputSampler } from "./ThroughputSampler.ts"

/**
 * Watches the running pipelines once a second (throughput), polls consumer lag and broker
 * reachability every `lagPollIntervalMs`, and answers readiness, status and metrics from that.
 * Needs PipelineRegistry, OnlineTables and KafkaAdmin.
 */
export class HealthMonitor extends Context.Service<HealthMonitor, {
  readonly readiness: Effect.Effect<Readiness>
  readonly status: Effect.Effect<ServiceStatus>
  /** Brings the derived gauges (rates, lag, watermark delay, readiness...) up to date; run before formatting metrics. */
  readonly refreshMetrics: Effect.Effect<void>
}>()("tributary/observability/HealthMonitor") {
  static readonly layer = (settings: ObservabilitySettings) => {
    // The sampler and the probe gather; the view and the exporter read what they gathered.
    const gatherers = Layer.mergeAll(ThroughputSampler.layer, LagProbe.layer(settings))
    const readers = PrometheusExporter.layer(settings).pipe(
      Layer.provideMerge(StatusView.layer(settings)),
      Layer.provide(gatherers)
    )
    return Layer.effect(
      HealthMonitor,
      Effect.gen(function*() {
        const view = yield* StatusView
        const exporter = yield* PrometheusExporter
        return HealthMonitor.of({
          readiness: view.readiness,
          status: view.status,
          refreshMetrics: exporter.refresh
        })
      })
    ).pipe(Layer.provide(readers))
  }
}
