import { Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { simulatorSettings } from "../config/SimulatorConfig.ts"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { pipelineNamed, simulatorNames } from "../pipelines/Pipelines.ts"
import { simulatePipeline } from "../runner/PipelineDefinition.ts"

export const simulateCommand = Command.make(
  "simulate",
  { pipeline: Argument.Literals("input", simulatorNames) },
  ({ pipeline }) =>
    Effect.gen(function*() {
      const settings = yield* simulatorSettings
      yield* Effect.logInfo(
        `simulating ${pipeline} input: ${settings.ratePerSecond} records/s, seed ${settings.seed}, ` +
          `malformed share ${settings.malformedShare}`
      )
      const published = yield* simulatePipeline(pipelineNamed(pipeline), settings)
      yield* Effect.logInfo(`published ${published} records`)
    }).pipe(Effect.provide(kafkaFromConfig))
).pipe(
  Command.withDescription(
    "Publish a pipeline's synthetic input (SIMULATOR_RATE / PUBLISH_INTERVAL_SEC, SIMULATOR_COUNT, SIMULATOR_SEED)"
  )
)
