import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import { type ObservabilitySettings, observabilitySettings } from "../config/ObservabilityConfig.ts"
import { loadDashboard } from "./Dashboard.ts"
import { HealthMonitor } from "./HealthMonitor.ts"

const noStore = { "cache-control": "no-store" }

/** The routes: Prometheus metrics, liveness, readiness, the status JSON and the dashboard page. */
const routes = Layer.effectDiscard(Effect.gen(function*() {
  const router = yield* HttpRouter.HttpRouter
  const monitor = yield* HealthMonitor
  const startedAt = yield* Clock.currentTimeMillis
  const dashboard = yield* loadDashboard

  yield* router.add(
    "GET",
    "/metrics",
    Effect.gen(function*() {
      yield* monitor.refreshMetrics
      const body = yield* PrometheusMetrics.format()
      return HttpServerResponse.text(body, {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        headers: noStore
      })
    })
  )
  // Liveness: the process answers. Nothing else, so a broker outage never gets the pod restarted.
  yield* router.add(
    "GET",
    "/healthz",
    Effect.map(Clock.currentTimeMillis, (now) =>
      HttpServerResponse.jsonUnsafe(
        { status: "alive", uptimeSeconds: Math.round((now - startedAt) / 1000) },
        { headers: noStore }
      ))
  )
  // Readiness: connected to Kafka, partitions assigned, not stalled; 503 with the reasons otherwise.
  yield* router.add(
    "GET",
    "/readyz",
    Effect.map(monitor.readiness, (r) =>
      HttpServerResponse.jsonUnsafe(
        {
          status: r.ready ? "ready" : "not ready",
          reasons: r.reasons,
          pipelines: r.pipelines.map((p) => ({ name: p.name, ready: p.ready, stalled: p.stalled }))
        },
        { status: r.ready ? 200 : 503, headers: noStore }
      ))
  )
  yield* router.add(
    "GET",
    "/api/status",
    Effect.map(monitor.status, (s) => HttpServerResponse.jsonUnsafe(s, { headers: noStore }))
  )
  yield* router.add(
    "GET",
    "/",
    HttpServerResponse.html(dashboard).pipe(HttpServerResponse.setHeaders(noStore))
  )
}))

/**
 * The service's observability endpoint, on METRICS_PORT (default 9464) at HTTP_HOST:
 * `/metrics` (Prometheus text), `/healthz` (liveness), `/readyz` (readiness, 200/503 + JSON reasons),
 * `/api/status` (JSON) and the live dashboard at `/` (one self-contained page, no external assets).
 * Needs PipelineRegistry, OnlineTables and KafkaAdmin (for lag and the broker probe).
 */
export class ObservabilityServer extends Context.Service<ObservabilityServer, {
  /** Where the server listens, e.g. http://127.0.0.1:9464 (loopback when bound to all interfaces). */
  readonly url: string
  readonly port: number
}>()("tributary/observability/ObservabilityServer") {
  static readonly layerWith = (settings: ObservabilitySettings) => {
    const http = NodeHttpServer.layer(createServer, { port: settings.port, host: settings.host })
    const address = Layer.effect(
      ObservabilityServer,
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        const a = server.address
        const port = a._tag === "UnixPathAddress" ? 0 : a.port
        const url = `http://${
          settings.host === "0.0.0.0" || settings.host === "::" ? "127.0.0.1" : settings.host
        }:${port}`
        yield* Effect.logInfo(`observability: dashboard ${url}/  metrics ${url}/metrics  health /healthz /readyz`)
        return ObservabilityServer.of({ url, port })
      })
    )
    return Layer.mergeAll(
      HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }),
      address
    ).pipe(
      Layer.provide(HealthMonitor.layer(settings)),
      Layer.provide(http)
    )
  }

  /** Configured from METRICS_PORT, HTTP_HOST, STALL_TIMEOUT_SECONDS, BROKER_CONTACT_TIMEOUT_SECONDS, LAG_POLL_INTERVAL_MS. */
  static readonly layer = Layer.unwrap(Effect.map(observabilitySettings, ObservabilityServer.layerWith))
}
