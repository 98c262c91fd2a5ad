/**
 * The pipeline README's "Write your own pipeline" shows is the example project's file, word for word:
 * the example's tests type-check it and the CLI test runs it, so the README cannot drift from code that works.
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { root } from "../support/LocalService.ts"
import { exampleDir } from "./ExampleProject.ts"

describe("README: Write your own pipeline", () => {
  it("shows examples/session-features/src/ViewsPerHourPipeline.ts exactly", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const section = readme.split("## Write your own pipeline\n")[1]
    assert.isDefined(section, "the README has the section")
    const snippet = /```ts\n([\s\S]*?)```/.exec(section!)?.[1]
    assert.strictEqual(snippet, readFileSync(join(exampleDir, "src", "ViewsPerHourPipeline.ts"), "utf8"))
  })
})
