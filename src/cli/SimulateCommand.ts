import { Effect } from "effect"
import { Argument, Command } from "effect/cli"
import type { PipelineCatalog } from "../app/PipelineCatalog.ts"
import { simulatorSettings } from "../config/SimulatorConfig.ts"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { simulatePipeline } from "../runner/PipelineDefinition.ts"
import { describeWithChoices, inputChoices } from "./ChoiceList.ts"
import { withSimulationProgress } from "./SimulationProgress.ts"

export const simulateCommand = (catalog: PipelineCatalog) =>
  Command.make(
    "simulate",
    {
      pipeline: Argument.Literals("input", catalog.simulatorNames).pipe(
        Argument.withDescription("What to publish: a pipeline's input (listed above), or the pipeline's name")
      )
    },
    ({ pipeline }) =>
      Effect.gen(function*() {
        const settings = yield* simulatorSettings
        yield* Effect.logInfo(
          `simulating ${pipeline} input: ${settings.ratePerSecond} records/s, seed ${settings.seed}, ` +
            `malformed share ${settings.malformedShare}`
        )
        const published = yield* simulatePipeline(catalog.named(pipeline), settings).pipe(
          withSimulationProgress(pipeline, settings.count)
        )
        yield* Effect.logInfo(`published ${published} records`)
      }).pipe(Effect.provide(kafkaFromConfig))
  ).pipe(
    Command.withDescription(describeWithChoices(
      "Publish a pipeline's synthetic input (SIMULATOR_RATE / PUBLISH_INTERVAL_SEC, SIMULATOR_COUNT, " +
        "SIMULATOR_SEED); shows progress",
      "INPUTS",
      inputChoices(catalog)
    ))
  )
