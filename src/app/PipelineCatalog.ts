import type { AnyPipeline, PipelineDefinition } from "../runner/PipelineDefinition.ts"

/**
 * The pipelines one app knows, by name: what `run`, `simulate` and `setup` accept. Built once from the
 * list given to `runApp`, so the built-in five and a user's own go through the same lookup.
 */
export interface PipelineCatalog {
  readonly pipelines: ReadonlyArray<AnyPipeline>
  /** Pipeline names; the first is the default of `run`. */
  readonly names: readonly [string, ...Array<string>]
  /** Names `simulate` accepts: each pipeline's input kind, and the pipeline names themselves. */
  readonly simulatorNames: readonly [string, ...Array<string>]
  /** The pipeline named `name` (or whose input is `name`); throws naming the known ones otherwise. */
  readonly named: (name: string) => AnyPipeline
}

/**
 * Any pipeline definition, as a list of them takes it: `AnyPipeline` alone refuses one without adapters
 * (`A = never`, which `any` cannot stand in for).
 */
export type SomePipeline = AnyPipeline | PipelineDefinition<any, never, any>

/** In a list, each definition's settings and adapter types are erased (each was checked where it is defined). */
export const erasePipeline = <S, A, R>(definition: PipelineDefinition<S, A, R>): AnyPipeline =>
  definition as unknown as AnyPipeline

export const makeCatalog = (list: ReadonlyArray<SomePipeline>): PipelineCatalog => {
  const pipelines = list.map(erasePipeline)
  const [first, ...rest] = pipelines.map((p) => p.name)
  if (first === undefined) throw new Error("an app needs at least one pipeline")
  const names: readonly [string, ...Array<string>] = [first, ...rest]
  const duplicate = names.find((name, i) => names.indexOf(name) !== i)
  if (duplicate !== undefined) throw new Error(`two pipelines are named ${duplicate}`)
  const inputs = [...new Set(pipelines.flatMap((p) => [p.input, p.name]))]
  const simulatorNames: readonly [string, ...Array<string>] = [inputs[0]!, ...inputs.slice(1)]
  return {
    pipelines,
    names,
    simulatorNames,
    named: (name) => {
      const found = pipelines.find((p) => p.name === name) ?? pipelines.find((p) => p.input === name)
      if (found === undefined) throw new Error(`unknown pipeline ${name}; known: ${names.join(", ")}`)
      return found
    }
  }
}
