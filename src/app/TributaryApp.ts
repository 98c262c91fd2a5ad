/**
 * The app entry: a list of pipeline definitions becomes the `tributary` command line — `run` (with the
 * dashboard, metrics and health endpoints), `simulate`, `setup`, `materialize` — exactly as the
 * built-in pipelines get it (`src/main.ts` is one call to `runApp`).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Runtime } from "effect"
import { type ExtraCommand, runCli } from "../cli/Cli.ts"
import { describeConfigError, isConfigError, serviceSettings } from "../config/ServiceConfig.ts"
import { loggingFromConfig } from "../observability/Logging.ts"
import { silenceKnownWarnings } from "../observability/ProcessWarnings.ts"
import { tracingFromConfig } from "../observability/Tracing.ts"
import { makeCatalog, type SomePipeline } from "./PipelineCatalog.ts"
import { PipelineModuleError } from "./PipelineModule.ts"

export interface AppOptions {
  /** The pipelines `run`, `simulate` and `setup` know; the first is what `run` starts by default. */
  readonly pipelines: ReadonlyArray<SomePipeline>
  /** Commands of the app's own, next to the standard ones. */
  readonly commands?: ReadonlyArray<ExtraCommand> | undefined
  /** What `--version` prints (default 0.1.0). */
  readonly version?: string | undefined
  /** The arguments (default: the process's); none means `run`. */
  readonly args?: ReadonlyArray<string> | undefined
}

// SIGTERM/SIGINT interrupt the program: in-flight batches finish and commit, then resources close.
// If that takes longer than SHUTDOWN_GRACE_MS, the process exits anyway (nothing uncommitted is lost:
// it is replayed on the next start).
const shutdownDeadline = Effect.flatMap(serviceSettings, ({ shutdownGraceMs }) =>
  Effect.sync(() => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => setTimeout(() => process.exit(1), shutdownGraceMs).unref())
    }
  }))

/** A stop requested by SIGTERM/SIGINT that completed cleanly is a normal exit for a service: code 0. */
const exitZeroOnSignal: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) && process.exitCode === undefined
    ? onExit(0)
    : Runtime.defaultTeardown(exit, (code) => onExit(typeof process.exitCode === "number" ? process.exitCode : code))

const usageError = (line: string) => Console.error(line).pipe(Effect.andThen(Effect.sync(() => (process.exitCode = 2))))

/** The whole program for `options`, without the process handling `runApp` adds. */
export const appProgram = (options: AppOptions) => {
  const catalog = makeCatalog(options.pipelines)
  const args = options.args ?? process.argv.slice(2)
  return Effect.andThen(
    shutdownDeadline,
    runCli(catalog, options.commands, options.version)(args.length === 0 ? ["run"] : args)
  ).pipe(
    // Spans go out over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (flushed as the program ends).
    Effect.provide(tracingFromConfig),
    Effect.provide(loggingFromConfig),
    // A bad or missing variable, or a --pipeline module without a definition, stops start-up with one
    // line naming it (variable values are never printed): exit code 2.
    Effect.catch((error) =>
      isConfigError(error)
        ? usageError(describeConfigError(error))
        : error instanceof PipelineModuleError
        ? usageError(error.message)
        : Effect.fail(error)
    ),
    Effect.provide(NodeServices.layer)
  )
}

/**
 * Runs the command line over `pipelines` (or the full options) as this process's main program:
 * logging from configuration, exit code 2 for bad configuration, 0 after a clean SIGTERM/SIGINT stop.
 */
export const runApp = (pipelinesOrOptions: ReadonlyArray<SomePipeline> | AppOptions): void => {
  const options = isOptionList(pipelinesOrOptions) ? { pipelines: pipelinesOrOptions } : pipelinesOrOptions
  silenceKnownWarnings()
  NodeRuntime.runMain(appProgram(options), { teardown: exitZeroOnSignal })
}

const isOptionList = (value: ReadonlyArray<SomePipeline> | AppOptions): value is ReadonlyArray<SomePipeline> =>
  Array.isArray(value)
