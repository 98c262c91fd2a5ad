import { Effect, Layer, Logger, References } from "effect"
import { serviceSettings } from "../config/ServiceConfig.ts"

/** Pretty logs for people, JSON for log shippers (LOG_FORMAT), at LOG_LEVEL. */
export const loggingFromConfig = Layer.unwrap(
  Effect.map(serviceSettings, ({ logFormat, logLevel }) =>
    Layer.mergeAll(
      Logger.layer([logFormat === "json" ? Logger.consoleJson : Logger.consolePretty()]),
      Layer.succeed(References.MinimumLogLevel, logLevel)
    ))
)
