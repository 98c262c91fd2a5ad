import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Context, Effect, Layer, Option, Schedule } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { NetAddress } from "effect/net"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import { type ObservabilitySettings, observabilitySettings } from "../config/ObservabilityConfig.ts"
import { loadDashboard } from "./Dashboard.ts"
import { isAuthorized } from "./DashboardAuth.ts"
import { HealthMonitor } from "./HealthMonitor.ts"
import { RuntimeMetrics } from "./RuntimeMetrics.ts"

const noStore = { "cache-control": "no-store" }

/** What a request without the right token gets (when DASHBOARD_TOKEN is set); never says what the token is. */
const unauthorized = HttpServerResponse.text(
  "401 Unauthorized: send Authorization: Bearer <DASHBOARD_TOKEN>, or open the dashboard as /?token=<DASHBOARD_TOKEN>\n",
  { status: 401, headers: { ...noStore, "www-authenticate": "Bearer realm=\"tributary\"" } }
)

/**
 * What the routes answer from. The server starts before Kafka and the feature store are connected
 * (probes must answer from the first second): until the health monitor is attached it is `Starting`,
 * and once the service shuts down, `Stopping`.
 */
type MonitorState =
  | { readonly _tag: "Starting" }
  | { readonly _tag: "Running"; readonly monitor: HealthMonitor["Service"] }
  | { readonly _tag: "Stopping" }

class MonitorSlot extends Context.Service<MonitorSlot, { state: MonitorState }>()(
  "tributary/observability/ObservabilityServer/MonitorSlot"
) {}

/** A liveness beat this old means the runtime no longer runs fibers: /healthz answers 503. */
const heartbeatTimeoutMs = 30_000

const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status, headers: noStore })

/** The routes: Prometheus metrics, liveness, readiness, the status JSON and the dashboard page. */
const routes = Layer.effectDiscard(Effect.gen(function*() {
  const router = yield* HttpRouter.HttpRouter
  const slot = yield* MonitorSlot
  const runtime = yield* RuntimeMetrics
  const startedAt = yield* Clock.currentTimeMillis
  const dashboard = yield* loadDashboard

  // Liveness: a fiber of this process beats once a second. Nothing else counts, so a broker or
  // Hopsworks outage (or a slow start) never gets the pod restarted.
  let lastBeat = startedAt
  yield* Effect.forkScoped(
    Effect.repeat(Effect.map(Clock.currentTimeMillis, (now) => (lastBeat = now)), Schedule.spaced("1 second"))
  )

  yield* router.add(
    "GET",
    "/metrics",
    Effect.gen(function*() {
      yield* runtime.refresh
      if (slot.state._tag === "Running") yield* slot.state.monitor.refreshMetrics
      const body = yield* PrometheusMetrics.format()
      return HttpServerResponse.text(body, {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        headers: noStore
      })
    })
  )
  yield* router.add(
    "GET",
    "/healthz",
    Effect.map(Clock.currentTimeMillis, (now) => {
      const beatAgoMs = now - lastBeat
      const alive = beatAgoMs <= heartbeatTimeoutMs
      return json({
        status: alive ? "alive" : "unresponsive",
        state: slot.state._tag.toLowerCase(),
        uptimeSeconds: Math.round((now - startedAt) / 1000),
        heartbeatAgoMs: beatAgoMs
      }, alive ? 200 : 503)
    })
  )
  // Readiness: connected to Kafka, consuming (or an idle stand-by), not stalled; 503 with the reasons otherwise.
  yield* router.add(
    "GET",
    "/readyz",
    Effect.suspend(() => {
      const state = slot.state
      if (state._tag !== "Running") {
        const starting = state._tag === "Starting"
        return Effect.succeed(json({
          status: starting ? "startup" : "stopping",
          reasons: [starting ? "starting: connecting to Kafka and the feature store" : "shutting down"],
          pipelines: []
        }, 503))
      }
      return Effect.map(state.monitor.readiness, (r) =>
        json({
          status: r.state,
          reasons: r.reasons,
          pipelines: r.pipelines.map((p) => ({ name: p.name, state: p.state, ready: p.ready, stalled: p.stalled }))
        }, r.ready ? 200 : 503))
    })
  )
  yield* router.add(
    "GET",
    "/api/status",
    Effect.suspend(() =>
      slot.state._tag === "Running"
        ? Effect.map(slot.state.monitor.status, (s) => json(s))
        : Effect.succeed(json({ status: slot.state._tag.toLowerCase() }, 503))
    )
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
 * Attaches the health monitor (lag probe, throughput sampler, readiness) to a running server once the
 * services it watches are up; marks the server `Stopping` when they shut down.
 */
const attachMonitor = (settings: ObservabilitySettings) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const slot = yield* MonitorSlot
    const monitor = yield* HealthMonitor
    yield* Effect.acquireRelease(
      Effect.sync(() => (slot.state = { _tag: "Running", monitor })),
      () => Effect.sync(() => (slot.state = { _tag: "Stopping" }))
    )
  })).pipe(Layer.provide(HealthMonitor.layer(settings)))

/**
 * The service's observability endpoint, on METRICS_PORT (default 9464) at HTTP_HOST (default 0.0.0.0,
 * which Kubernetes needs so probes and Prometheus reach the pod IP; 127.0.0.1 for local only):
 * `/metrics` (Prometheus text, with the process's runtime metrics), `/healthz` (liveness), `/readyz`
 * (readiness, 200/503 + JSON state and reasons), `/api/status` (JSON) and the live dashboard at `/`
 * (one self-contained page, no external assets). Rows are in `/api/status` and the dashboard only with
 * DASHBOARD_SHOW_ROWS=true; with DASHBOARD_TOKEN set, everything but `/metrics`, `/healthz` and
 * `/readyz` needs the token (DashboardAuth). The health monitor needs PipelineRegistry, OnlineTables
 * and KafkaAdmin (for lag and the broker probe).
 */
export class ObservabilityServer extends Context.Service<ObservabilityServer, {
  /** Where the server listens, e.g. http://127.0.0.1:9464 (loopback when bound to all interfaces). */
  readonly url: string
  /** The address the server is bound to (HTTP_HOST) and its port. */
  readonly host: string
  readonly port: number
}>()("tributary/observability/ObservabilityServer") {
  /** The HTTP server alone, answering `startup` until a monitor is attached. */
  static readonly serverLayer = (settings: ObservabilitySettings) => {
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
      Layer.provideMerge(Layer.succeed(MonitorSlot, MonitorSlot.of({ state: { _tag: "Starting" } }))),
      Layer.provide(RuntimeMetrics.layer),
      Layer.provide(http)
    )
  }

  /** The server and its monitor, over services already in context (built before it). */
  static readonly layerWith = (settings: ObservabilitySettings) =>
    attachMonitor(settings).pipe(Layer.provideMerge(ObservabilityServer.serverLayer(settings)))

  /**
   * The server first, then `services` (Kafka, the feature store: they may take a while to connect),
   * then the monitor over them: probes answer from the start (`/readyz`: startup).
   */
  static readonly around = <A, E, R>(settings: ObservabilitySettings, services: Layer.Layer<A, E, R>) =>
    attachMonitor(settings).pipe(
      Layer.provideMerge(services),
      Layer.provideMerge(ObservabilityServer.serverLayer(settings))
    )

  /**
   * Configured from METRICS_PORT, HTTP_HOST, STALL_TIMEOUT_SECONDS, BROKER_CONTACT_TIMEOUT_SECONDS,
   * LAG_POLL_INTERVAL_MS, DASHBOARD_SHOW_ROWS and DASHBOARD_TOKEN.
   */
  static readonly layer = Layer.unwrap(Effect.map(observabilitySettings, ObservabilityServer.layerWith))

  /** `around` from configuration: what `run` uses. */
  static readonly layerAround = <A, E, R>(services: Layer.Layer<A, E, R>) =>
    Layer.unwrap(Effect.map(observabilitySettings, (settings) => ObservabilityServer.around(settings, services)))
}
