/** `run --pipeline <file>`: which exports count as pipeline definitions, and what a bad module is told. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { pipelinesOfModule } from "../../src/app/PipelineModule.ts"
import { definePipeline } from "../../src/index.ts"
import { transactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"

const other = definePipeline({ ...transactionsPipeline, name: "other" })

const failure = (exports: Record<string, unknown>) => {
  const exit = Effect.runSyncExit(pipelinesOfModule("./p.js", exports))
  if (Exit.isSuccess(exit)) return assert.fail(`expected a failure, got ${exit.value.map((p) => p.name)}`)
  return String(exit.cause)
}

describe("pipeline modules", () => {
  it("takes the default export when it is a definition, or a list of them", () => {
    const single = Effect.runSync(pipelinesOfModule("./p.js", { default: transactionsPipeline, other }))
    assert.deepStrictEqual(single.map((p) => p.name), ["transactions"])
    const list = Effect.runSync(pipelinesOfModule("./p.js", { default: [transactionsPipeline, other] }))
    assert.deepStrictEqual(list.map((p) => p.name), ["transactions", "other"])
  })

  it("otherwise takes every named export that is a definition", () => {
    const named = Effect.runSync(pipelinesOfModule("./p.js", { a: transactionsPipeline, helper: () => 1, b: other }))
    assert.deepStrictEqual(named.map((p) => p.name), ["transactions", "other"])
  })

  it("says what the module exports when none is a definition", () => {
    const message = failure({ helper: () => 1, settings: {} })
    assert.include(message, "--pipeline ./p.js: the module exports no pipeline definition")
    assert.include(message, "its exports: helper, settings")
    assert.include(failure({}), "its exports: none")
  })

  it("names the fields an almost-definition lacks", () => {
    const { simulate: _, ...withoutSimulate } = transactionsPipeline
    const message = failure({ default: { ...withoutSimulate, name: 42 } })
    assert.include(message, "default (name is not a string, simulate is missing)")
  })
})
