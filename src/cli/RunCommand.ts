import { Effect, type Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { PipelineCatalog } from "../app/PipelineCatalog.ts"
import { loadPipelineModule, PipelineModuleError } from "../app/PipelineModule.ts"
import { isEmbedded } from "../kafka/KafkaLayer.ts"
import { ObservabilityServer } from "../observability/ObservabilityServer.ts"
import { type AnyPipeline, simulatePipeline } from "../runner/PipelineDefinition.ts"
import { ensureTopics } from "../runner/PipelineRunner.ts"
import { appLayer, runPipeline } from "./AppLayer.ts"
import { describeWithChoices, pipelineChoices } from "./ChoiceList.ts"
import { reportProgress } from "./ProgressReporter.ts"

/** What the embedded demo feeds its pipelines: a steady trickle with a few malformed records. */
const demoSimulator = { seed: 7, ratePerSecond: 20, count: Option.none<number>(), malformedShare: 0.05 }

export const runPipelines = (definitions: ReadonlyArray<AnyPipeline>) =>
  Effect.gen(function*() {
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
  }).pipe(
    // The HTTP server starts before Kafka and the feature store connect: probes answer from the start.
    Effect.provide(ObservabilityServer.layerAround(appLayer))
  )

/**
 * The pipelines `run` starts: those named (default: the catalog's first, unless files were given;
 * `all`: every one), then those the `--pipeline` files define. A file's pipeline may not reuse a name.
 */
export const selectPipelines = (catalog: PipelineCatalog, names: ReadonlyArray<string>, files: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const fromFiles: Array<AnyPipeline> = []
    const taken = new Set<string>(catalog.names)
    for (const path of files) {
      for (const p of yield* loadPipelineModule(path)) {
        if (taken.has(p.name)) {
          return yield* new PipelineModuleError({ path, reason: `another pipeline is already named ${p.name}` })
        }
        taken.add(p.name)
        fromFiles.push(p)
      }
    }
    const chosen = names.includes("all")
      ? catalog.names
      : names.length === 0 && fromFiles.length === 0
      ? [catalog.names[0]]
      : [...new Set(names)]
    return [...chosen.map(catalog.named), ...fromFiles]
  })

export const runCommand = (catalog: PipelineCatalog) =>
  Command.make(
    "run",
    {
      pipelines: Argument.Literals("pipeline", [...catalog.names, "all"]).pipe(
        Argument.variadic(),
        Argument.withDescription(
          `Pipelines to run in this process (default: ${catalog.names[0]}; \`all\` for every one)`
        )
      ),
      files: Flag.String("pipeline").pipe(
        Flag.atLeast(0),
        Flag.withDescription(
          "A module (.js, or .ts on Node 24) whose default or named exports are pipeline definitions; repeatable"
        )
      )
    },
    ({ files, pipelines }) => Effect.flatMap(selectPipelines(catalog, pipelines, files), runPipelines)
  ).pipe(
    Command.withDescription(describeWithChoices(
      "Run pipelines as a long-running service (SIGTERM/SIGINT: finish in-flight batches, commit, exit)",
      "PIPELINES",
      [...pipelineChoices(catalog), ["all", "every pipeline above, in one process"]]
    ))
  )
