import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Context, Effect, Layer, Option } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { NetAddress } from "effect/net"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import { type ObservabilitySettings, observabilitySettings } from "../config/ObservabilityConfig.ts"
import { loadDashboard } from "./Dashboard.ts"
import { isAuthorized } from "./DashboardAuth.ts"
import { HealthMonitor } from "./HealthMonitor.ts"

const noStore = { "cache-control": "no-store" }

/** What a request without the right token gets (when DASHBOARD_TOKEN is set); never says what the token is. */
const unauthorized = HttpServerResponse.text(
  "401 Unauthorized: send Authorization: Bearer <DASHBOARD_TOKEN>, or open the dashboard as /?token=<DASHBOARD_TOKEN>\n",
  { status: 401, headers: { ...noStore, "www-authenticate": "Bearer realm=\"tributary\"" } }
)

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
  // The page may be opened as /?token=...: it must not pass the address on to anyone (no Referer).
  yield* router.add(
    "GET",
    "/",
    HttpServerResponse.html(dashboard).pipe(
      HttpServerResponse.setHeaders({ ...noStore, "referrer-policy": "no-referrer" })
    )
  )
}))

/**
 * Runs before any route (unknown paths too): with DASHBOARD_TOKEN set, only `/metrics`, `/healthz` and
 * `/readyz` answer without `Authorization: Bearer <token>` (see DashboardAuth).
 */
const tokenGuard = (token: ObservabilitySettings["token"]) =>
  Layer.effectDiscard(
    Effect.flatMap(HttpRouter.HttpRouter, (router) =>
      router.addGlobalMiddleware((handle) =>
        Effect.flatMap(
          HttpServerRequest.HttpServerRequest,
          (request) => (isAuthorized(token, request) ? handle : Effect.succeed(unauthorized))
        )
      ))
  )

/** `http://host:port` for a bound address: loopback for the wildcard addresses, brackets for IPv6. */
const urlOf = (host: string, port: number): string => {
  const h = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host
  return `http://${h.includes(":") ? `[${h}]` : h}:${port}`
}

/**
 * The service's observability endpoint, on METRICS_PORT (default 9464) at HTTP_HOST (default 0.0.0.0,
 * which Kubernetes needs so probes and Prometheus reach the pod IP; 127.0.0.1 for local only):
 * `/metrics` (Prometheus text), `/healthz` (liveness), `/readyz` (readiness, 200/503 + JSON reasons),
 * `/api/status` (JSON) and the live dashboard at `/` (one self-contained page, no external assets).
 * Rows are in `/api/status` and the dashboard only with DASHBOARD_SHOW_ROWS=true; with DASHBOARD_TOKEN
 * set, everything but `/metrics`, `/healthz` and `/readyz` needs the token (DashboardAuth).
 * Needs PipelineRegistry, OnlineTables and KafkaAdmin (for lag and the broker probe).
 */
export class ObservabilityServer extends Context.Service<ObservabilityServer, {
  /** Where the server listens, e.g. http://127.0.0.1:9464 (loopback when bound to all interfaces). */
  readonly url: string
  /** The address the server is bound to (HTTP_HOST) and its port. */
  readonly host: string
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
        const host = a._tag === "UnixPathAddress" ? settings.host : NetAddress.formatIp(a.address)
        const url = urlOf(host, port)
        const access = [
          Option.isSome(settings.token) ? "dashboard and /api need DASHBOARD_TOKEN" : "no DASHBOARD_TOKEN",
          settings.showRows ? "row previews on" : "row previews off"
        ].join(", ")
        yield* Effect.logInfo(
          `observability: dashboard ${url}/  metrics ${url}/metrics  health /healthz /readyz  ` +
            `(bound to ${host}; ${access})`
        )
        return ObservabilityServer.of({ url, host, port })
      })
    )
    return Layer.mergeAll(
      // No request log: a dashboard address may carry ?token=.
      HttpRouter.serve(Layer.merge(routes, tokenGuard(settings.token)), {
        disableLogger: true,
        disableListenLog: true
      }),
      address
    ).pipe(
      Layer.provide(HealthMonitor.layer(settings)),
      Layer.provide(http)
    )
  }

  /**
   * Configured from METRICS_PORT, HTTP_HOST, STALL_TIMEOUT_SECONDS, BROKER_CONTACT_TIMEOUT_SECONDS,
   * LAG_POLL_INTERVAL_MS, DASHBOARD_SHOW_ROWS and DASHBOARD_TOKEN.
   */
  static readonly layer = Layer.unwrap(Effect.map(observabilitySettings, ObservabilityServer.layerWith))
}
