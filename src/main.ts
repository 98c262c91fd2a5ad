#!/usr/bin/env node
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Runtime } from "effect"
import { runCli } from "./cli/Cli.ts"
import { describeConfigError, isConfigError, serviceSettings } from "./config/ServiceConfig.ts"
import { loggingFromConfig } from "./observability/Logging.ts"

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

const args = process.argv.slice(2)

Effect.andThen(shutdownDeadline, runCli(args.length === 0 ? ["run"] : args)).pipe(
  Effect.provide(loggingFromConfig),
  // A bad or missing variable stops start-up with one line naming it (values are never printed).
  Effect.catch((error) =>
    isConfigError(error)
      ? Console.error(describeConfigError(error)).pipe(Effect.andThen(Effect.sync(() => (process.exitCode = 2))))
      : Effect.fail(error)
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ teardown: exitZeroOnSignal })
)
