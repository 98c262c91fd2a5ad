import type { PipelineDefinition } from "./PipelineDefinition.ts"
import { transactionsPipeline } from "./transactions/index.ts"

/** Every pipeline Tributary runs, by name. The first is the default of `run`. */
export const pipelines: ReadonlyArray<PipelineDefinition> = [transactionsPipeline]

export const pipelineNames = pipelines.map((p) => p.name) as unknown as readonly [string, ...Array<string>]

export const pipelineNamed = (name: string): PipelineDefinition => {
  const found = pipelines.find((p) => p.name === name)
  if (found === undefined) throw new Error(`unknown pipeline ${name}; known: ${pipelineNames.join(", ")}`)
  return found
}
