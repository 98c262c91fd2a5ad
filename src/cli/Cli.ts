import { Command } from "effect/cli"
import type { PipelineCatalog } from "../app/PipelineCatalog.ts"
import { materializeCommand } from "./MaterializeCommand.ts"
import { runCommand } from "./RunCommand.ts"
import { setupCommand } from "./SetupCommand.ts"
import { simulateCommand } from "./SimulateCommand.ts"

/**
 * A command an app adds next to the standard ones (the built-in five add `save-fingerprints`). It
 * provides its own services, except the platform's (file system, path, terminal...).
 */
export type ExtraCommand = Command.Command<any, any, any, unknown, Command.Environment>

/** `run`, `simulate`, `setup` and `materialize` over the catalog's pipelines, then the app's own commands. */
export const makeCli = (catalog: PipelineCatalog, extra: ReadonlyArray<ExtraCommand> = []) =>
  Command.make("tributary").pipe(
    Command.withDescription(
      "Real-time feature pipelines on Kafka. With no configuration, `run` starts the embedded demo."
    ),
    Command.withSubcommands([
      runCommand(catalog),
      simulateCommand(catalog),
      setupCommand(catalog),
      materializeCommand,
      ...extra
    ])
  )

/**
 * `materialize <fg> --version <n>` was how the feature group version was given before the flag became
 * `--fg-version` (`--version` is the global flag): the old spelling still works there.
 */
export const legacyArguments = (args: ReadonlyArray<string>): ReadonlyArray<string> =>
  args[0] !== "materialize" ? args : args.map((arg, i) =>
    arg === "--version" && /^\d+$/.test(args[i + 1] ?? "")
      ? "--fg-version"
      : arg.startsWith("--version=")
      ? `--fg-version=${arg.slice("--version=".length)}`
      : arg
  )

export const runCli = (catalog: PipelineCatalog, extra?: ReadonlyArray<ExtraCommand>, version = "0.1.0") => {
  const run = Command.runWith(makeCli(catalog, extra), { version })
  return (args: ReadonlyArray<string>) => run(legacyArguments(args))
}
