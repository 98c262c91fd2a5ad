import { Config } from "effect"
import { literalsAnyCase, logLevelAnyCase } from "./AnyCase.ts"

/** Process-level settings of the long-running service. */
export const serviceSettings = Config.all({
  /** How long SIGTERM/SIGINT waits for in-flight batches to finish and commit before the process exits. */
  shutdownGraceMs: Config.Int("SHUTDOWN_GRACE_MS").pipe(Config.withDefault(30_000)),
  /** Partitions of source topics `run` creates when they do not exist. */
  topicPartitions: Config.Int("KAFKA_TOPIC_PARTITIONS").pipe(Config.withDefault(3)),
  replicationFactor: Config.Int("KAFKA_REPLICATION_FACTOR").pipe(Config.withDefault(1)),
  logFormat: literalsAnyCase(["pretty", "json"], "LOG_FORMAT").pipe(Config.withDefault<"pretty" | "json">("pretty")),
  logLevel: logLevelAnyCase("LOG_LEVEL").pipe(Config.withDefault("Info" as const))
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
