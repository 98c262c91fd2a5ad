import { Config, Schema } from "effect"
import { literalsAnyCase, logLevelAnyCase } from "./AnyCase.ts"

/** Process-level settings of the long-running service. */
export const serviceSettings = Config.all({
  /**
   * How long SIGTERM/SIGINT waits for in-flight batches to finish and commit before the process exits.
   * Below Kubernetes' default 30 s termination grace, so the process exits on its own before a SIGKILL.
   */
  shutdownGraceMs: Config.Int("SHUTDOWN_GRACE_MS").pipe(Config.withDefault(25_000)),
  /** Partitions of source topics `run` creates when they do not exist. */
  topicPartitions: Config.Int("KAFKA_TOPIC_PARTITIONS").pipe(Config.withDefault(3)),
  replicationFactor: Config.Int("KAFKA_REPLICATION_FACTOR").pipe(Config.withDefault(1)),
  logFormat: literalsAnyCase(["pretty", "json"], "LOG_FORMAT").pipe(Config.withDefault<"pretty" | "json">("pretty")),
  logLevel: logLevelAnyCase("LOG_LEVEL").pipe(Config.withDefault("Info" as const)),
  /**
   * Repeated conditions (dead letters, client errors the service retries) are logged as one summary
   * line per this interval instead of a line each time.
   */
  logSummaryIntervalMs: Config.schema(
    Schema.Finite.check(Schema.isGreaterThan(0)),
    "LOG_SUMMARY_INTERVAL_SECONDS"
  ).pipe(Config.withDefault(30), Config.map((s) => Math.round(s * 1000)))
})
export type ServiceSettings = Config.Success<typeof serviceSettings>

/** Formats a configuration failure as one line that names the variable (values are never echoed). */
export const describeConfigError = (error: { readonly message: string }): string => {
  const [problem = "invalid value", ...rest] = error.message.replace(/^SchemaError\(|\)$/g, "").split("\n")
  const at = rest.find((line) => line.trim().startsWith("at "))?.trim().slice(3)
  const variable = at === undefined ? "configuration" : (JSON.parse(at) as Array<string>).join(".")
  const missing = problem.trim() === "Expected string" ? " (missing)" : ""
  return `Invalid configuration: ${variable}${missing}: ${problem.trim()}`
}

export const isConfigError = (u: unknown): u is Config.ConfigError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "ConfigError"
