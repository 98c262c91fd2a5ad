import { cardAggregatesPipeline } from "./card-aggregates/index.ts"
import { ecommercePipeline } from "./ecommerce/index.ts"
import { fingerprintPipeline } from "./fingerprint/index.ts"
import type { PipelineDefinition } from "./PipelineDefinition.ts"
import { transactionsPipeline } from "./transactions/index.ts"
import { userEventsPipeline } from "./user-events/index.ts"

/** Every pipeline Tributary runs, by name. The first is the default of `run`. */
export const pipelines: ReadonlyArray<PipelineDefinition> = [
  transactionsPipeline,
  cardAggregatesPipeline,
  ecommercePipeline,
  fingerprintPipeline,
  userEventsPipeline
]

export const pipelineNames = pipelines.map((p) => p.name) as unknown as readonly [string, ...Array<string>]

/** Names `simulate` accepts: each pipeline's input kind, and the pipeline names themselves. */
export const simulatorNames = [...new Set(pipelines.flatMap((p) => [p.input, p.name]))] as unknown as readonly [
  string,
  ...Array<string>
]

export const pipelineNamed = (name: string): PipelineDefinition => {
  const found = pipelines.find((p) => p.name === name || p.input === name)
  if (found === undefined) throw new Error(`unknown pipeline ${name}; known: ${pipelineNames.join(", ")}`)
  return found
}
