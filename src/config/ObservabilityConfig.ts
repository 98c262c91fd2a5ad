import { Config, Option, Redacted, Schema } from "effect"
import { booleanAnyCase } from "./AnyCase.ts"

/** The metrics / health / dashboard HTTP server of `run`, and what "ready" means. */
export interface ObservabilitySettings {
  /** Port of `/metrics`, `/healthz`, `/readyz`, `/api/status` and the dashboard at `/`. */
  readonly port: number
  /**
   * Address the server binds. `0.0.0.0` (all interfaces, the default) is what Kubernetes needs: probes and
   * Prometheus reach `/healthz`, `/readyz` and `/metrics` on the pod IP. `127.0.0.1` keeps it local.
   */
  readonly host: string
  /** A pipeline with lag > 0 that made no progress for this long is stalled (not ready). */
  readonly stallTimeoutMs: number
  /** A Kafka consumer that heard nothing from its brokers (fetch, heartbeat) for this long is disconnected. */
  readonly brokerContactTimeoutMs: number
  /** How often consumer lag is read from the brokers (also the broker reachability probe). */
  readonly lagPollIntervalMs: number
  /**
   * Whether `/api/status` and the dashboard carry output and feature rows (previews). Off by default:
   * rows hold card numbers, user ids and free-form metadata. Even when on, card-like numbers are masked.
   */
  readonly showRows: boolean
  /**
   * When set, `/` and `/api/*` (everything but `/metrics`, `/healthz`, `/readyz`) need
   * `Authorization: Bearer <token>`; the dashboard page also takes it once as `?token=`.
   */
  readonly token: Option.Option<Redacted.Redacted<string>>
}

export const observabilitySettings: Config.Config<ObservabilitySettings> = Config.all({
  /** 0 = any free port (the chosen one is logged): for several processes on one machine. */
  port: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65_535 })), "METRICS_PORT").pipe(
    Config.withDefault(9464)
  ),
  host: Config.String("HTTP_HOST").pipe(Config.map((h) => h.trim()), Config.withDefault("0.0.0.0")),
  stallTimeoutMs: Config.Int("STALL_TIMEOUT_SECONDS").pipe(Config.withDefault(120), Config.map((s) => s * 1000)),
  brokerContactTimeoutMs: Config.Int("BROKER_CONTACT_TIMEOUT_SECONDS").pipe(
    Config.withDefault(30),
    Config.map((s) => s * 1000)
  ),
  lagPollIntervalMs: Config.Int("LAG_POLL_INTERVAL_MS").pipe(Config.withDefault(5000)),
  showRows: booleanAnyCase("DASHBOARD_SHOW_ROWS").pipe(Config.withDefault(false)),
  /** An empty DASHBOARD_TOKEN (e.g. `DASHBOARD_TOKEN=` copied from a template) means no token. */
  token: Config.option(Config.Redacted("DASHBOARD_TOKEN")).pipe(
    Config.map(Option.filter((t) => Redacted.value(t).trim() !== "")),
    Config.map(Option.map((t) => Redacted.make(Redacted.value(t).trim(), { label: "DASHBOARD_TOKEN" })))
  )
})
