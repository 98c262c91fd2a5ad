import { Command } from "effect/cli"
import { materializeCommand } from "./MaterializeCommand.ts"
import { runCommand } from "./RunCommand.ts"
import { saveFingerprintsCommand } from "./SaveFingerprintsCommand.ts"
import { setupCommand } from "./SetupCommand.ts"
import { simulateCommand } from "./SimulateCommand.ts"

export const cli = Command.make("tributary").pipe(
  Command.withDescription(
    "Real-time feature pipelines on Kafka. With no configuration, `run` starts the embedded demo."
  ),
  Command.withSubcommands([runCommand, simulateCommand, setupCommand, materializeCommand, saveFingerprintsCommand])
)

export const runCli = Command.runWith(cli, { version: "0.1.0" })
