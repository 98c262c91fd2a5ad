import type { AnyPipeline, PipelineDefinition } from "../runner/PipelineDefinition.ts"
import { cardAggregatesPipeline } from "./card-aggregates/CardAggregatesPipeline.ts"
import { ecommercePipeline } from "./ecommerce/EcommercePipeline.ts"
import { fingerprintPipeline } from "./fingerprint/FingerprintPipeline.ts"
import { transactionsPipeline } from "./transactions/TransactionsPipeline.ts"
import { userEventsPipeline } from "./user-events/UserEventsPipeline.ts"

/** In the list, each definition's settings and adapter types are erased (each was checked where it is defined). */
function erase<S, A, R>(definition: PipelineDefinition<S, A, R>): AnyPipeline {
  return definition as unknown as AnyPipeline
}

/** Every pipeline Tributary runs, by name. The first is the default of `run`. */
export const pipelines: ReadonlyArray<AnyPipeline> = [
  erase(transactionsPipeline),
  erase(cardAggregatesPipeline),
  erase(ecommercePipeline),
  erase(fingerprintPipeline),
  erase(userEventsPipeline)
]

export const pipelineNames = pipelines.map((p) => p.name) as unknown as readonly [string, ...Array<string>]

/** Names `simulate` accepts: each pipeline's input kind, and the pipeline names themselves. */
export const simulatorNames = [...new Set(pipelines.flatMap((p) => [p.input, p.name]))] as unknown as readonly [
  string,
  ...Array<string>
]

export const pipelineNamed = (name: string): AnyPipeline => {
  const found = pipelines.find((p) => p.name === name || p.input === name)
  if (found === undefined) throw new Error(`unknown pipeline ${name}; known: ${pipelineNames.join(", ")}`)
  return found
}
