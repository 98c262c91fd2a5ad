import { Effect, Layer, Option } from "effect"
import { Argument, Command } from "effect/cli"
import { isEmbedded } from "../kafka/KafkaLayer.ts"
import { ObservabilityServer } from "../observability/ObservabilityServer.ts"
import { pipelineNamed, pipelineNames } from "../pipelines/Pipelines.ts"
import { simulatePipeline } from "../runner/PipelineDefinition.ts"
import { ensureTopics } from "../runner/PipelineRunner.ts"
import { appLayer, runPipeline } from "./AppLayer.ts"
import { reportProgress } from "./ProgressReporter.ts"

/** What the embedded demo feeds its pipelines: a steady trickle with a few malformed records. */
const demoSimulator = { seed: 7, ratePerSecond: 20, count: Option.none<number>(), malformedShare: 0.05 }

export const runPipelines = (names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const definitions = names.map(pipelineNamed)
    for (const d of definitions) yield* ensureTopics(d.sourceTopics(yield* d.settings))
    const jobs: Array<Effect.Effect<unknown, unknown, Layer.Success<typeof appLayer>>> = []
    const embedded = yield* isEmbedded
    if (embedded) {
      yield* Effect.logInfo(
        "No KAFKA_BOOTSTRAP_SERVERS: running the embedded demo (in-memory broker, simulator, local feature store)"
      )
    }
    for (const d of definitions) {
      jobs.push(runPipeline(d))
      if (embedded) jobs.push(simulatePipeline(d, demoSimulator))
    }
    if (embedded) jobs.push(reportProgress)
    yield* Effect.all(jobs, { concurrency: "unbounded", discard: true })
  }).pipe(Effect.provide(ObservabilityServer.layer.pipe(Layer.provideMerge(appLayer))))

export const runCommand = Command.make(
  "run",
  {
    pipelines: Argument.Literals("pipeline", [...pipelineNames, "all"]).pipe(
      Argument.variadic(),
      Argument.withDescription("Pipelines to run in this process (default: transactions; `all` for every one)")
    )
  },
  ({ pipelines }) =>
    runPipelines(
      pipelines.length === 0 ? [pipelineNames[0]] : pipelines.includes("all") ? pipelineNames : [...new Set(pipelines)]
    )
).pipe(
  Command.withDescription(
    "Run a pipeline as a long-running service (SIGTERM/SIGINT: finish in-flight batches, commit, exit)"
  )
)
