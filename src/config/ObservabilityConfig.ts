import { Config, Schema } from "effect"

/** The metrics / health / dashboard HTTP server of `run`, and what "ready" means. */
export interface ObservabilitySettings {
  /** Port of `/metrics`, `/healthz`, `/readyz`, `/api/status` and the dashboard at `/`. */
  readonly port: number
  readonly host: string
  /** A pipeline with lag > 0 that made no progress for this long is stalled (not ready). */
  readonly stallTimeoutMs: number
  /** A Kafka consumer that heard nothing from its brokers (fetch, heartbeat) for this long is disconnected. */
  readonly brokerContactTimeoutMs: number
  /** How often consumer lag is read from the brokers (also the broker reachability probe). */
  readonly lagPollIntervalMs: number
}

export const observabilitySettings: Config.Config<ObservabilitySettings> = Config.all({
  /** 0 = any free port (the chosen one is logged): for several processes on one machine. */
  port: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65_535 })), "METRICS_PORT").pipe(
    Config.withDefault(9464)
  ),
  host: Config.String("HTTP_HOST").pipe(Config.withDefault("0.0.0.0")),
  stallTimeoutMs: Config.Int("STALL_TIMEOUT_SECONDS").pipe(Config.withDefault(120), Config.map((s) => s * 1000)),
  brokerContactTimeoutMs: Config.Int("BROKER_CONTACT_TIMEOUT_SECONDS").pipe(
    Config.withDefault(30),
    Config.map((s) => s * 1000)
  ),
  lagPollIntervalMs: Config.Int("LAG_POLL_INTERVAL_MS").pipe(Config.withDefault(5000))
})
