/**
 * `run --pipeline ./my-pipeline.js` (or `.ts`: Node 24 strips the types): loads a user's pipeline
 * definitions from a module. The default export is used when it is a definition (or a list of them);
 * otherwise every named export that is one.
 */
import { Data, Effect } from "effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { AnyPipeline } from "../runner/PipelineDefinition.ts"

export class PipelineModuleError extends Data.TaggedError("PipelineModuleError")<{
  readonly path: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `--pipeline ${this.path}: ${this.reason}`
  }
}

/** The fields `definePipeline` requires and the runner calls. */
const requiredFields = {
  name: "string",
  input: "string",
  description: "string",
  settings: "object",
  sourceTopics: "function",
  jobs: "function",
  simulate: "function"
} as const

/**
 * Missing or mistyped fields of a would-be definition (empty: it is one). Checked by shape, not by
 * class, so a definition made with another copy of the package is accepted too.
 */
export const definitionProblems = (value: unknown): ReadonlyArray<string> => {
  if (typeof value !== "object" || value === null) return ["not an object"]
  const record = value as Record<string, unknown>
  return Object.entries(requiredFields).flatMap(([field, type]) =>
    typeof record[field] === type ? [] : [`${field} is ${record[field] === undefined ? "missing" : "not a " + type}`]
  )
}

export const isPipelineDefinition = (value: unknown): value is AnyPipeline => definitionProblems(value).length === 0

/** The definitions a loaded module exports, or why it exports none. */
export const pipelinesOfModule = (
  path: string,
  exports: Readonly<Record<string, unknown>>
): Effect.Effect<ReadonlyArray<AnyPipeline>, PipelineModuleError> => {
  const fail = (reason: string) => Effect.fail(new PipelineModuleError({ path, reason }))
  const fallback = exports["default"]
  if (fallback !== undefined) {
    if (isPipelineDefinition(fallback)) return Effect.succeed([fallback])
    if (Array.isArray(fallback) && fallback.length > 0 && fallback.every(isPipelineDefinition)) {
      return Effect.succeed(fallback)
    }
  }
  const named = Object.entries(exports).filter(([name, value]) => name !== "default" && isPipelineDefinition(value))
  if (named.length > 0) return Effect.succeed(named.map(([, value]) => value as AnyPipeline))
  // Nothing qualifies: say what came closest, so a typo in one field is easy to spot.
  const candidates = Object.entries(exports).filter(([, value]) =>
    typeof value === "object" && value !== null && "jobs" in value
  )
  if (candidates.length > 0) {
    return fail(
      "no export is a complete pipeline definition: " +
        candidates.map(([name, value]) => `${name} (${definitionProblems(value).join(", ")})`).join("; ")
    )
  }
  const names = Object.keys(exports)
  return fail(
    "the module exports no pipeline definition (expected `export default definePipeline({...})` or a named " +
      `export made with definePipeline); its exports: ${names.length === 0 ? "none" : names.join(", ")}`
  )
}

/** Imports the module at `path` (relative to the working directory) and returns its definitions. */
export const loadPipelineModule = (path: string): Effect.Effect<ReadonlyArray<AnyPipeline>, PipelineModuleError> =>
  Effect.tryPromise({
    try: () => import(pathToFileURL(resolve(path)).href) as Promise<Record<string, unknown>>,
    catch: (cause) =>
      new PipelineModuleError({
        path,
        reason: `cannot be loaded: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  }).pipe(Effect.flatMap((exports) => pipelinesOfModule(path, exports)))
