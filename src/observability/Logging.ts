import { Effect, Layer, Logger, References } from "effect"
import { serviceSettings } from "../config/ServiceConfig.ts"
import { LogSummaryInterval } from "./DeadLetterSummary.ts"

/**
 * Pretty logs for people, JSON for log shippers (LOG_FORMAT), at LOG_LEVEL; repeated conditions
 * summed up once per LOG_SUMMARY_INTERVAL_SECONDS.
 */
export const loggingFromConfig = Layer.unwrap(
  Effect.map(serviceSettings, ({ logFormat, logLevel, logSummaryIntervalMs }) =>
    Layer.mergeAll(
      Logger.layer([logFormat === "json" ? Logger.consoleJson : Logger.consolePretty()]),
      Layer.succeed(References.MinimumLogLevel, logLevel),
      Layer.succeed(LogSummaryInterval, logSummaryIntervalMs)
    ))
)
