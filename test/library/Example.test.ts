/**
 * The example in examples/session-features is a project of its own that depends on this package by
 * path: its sources type-check against the built declarations (dist/*.d.ts, through `exports`), and
 * its tests pass when run the way its README says (`npm test` there is `vitest run`).
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { exampleDir, linkExample, runTool } from "./ExampleProject.ts"

describe("examples/session-features", () => {
  beforeAll(linkExample)

  it("type-checks against the package's declarations", () => {
    const { output, status } = runTool("typescript/bin/tsc", ["-p", "tsconfig.json"], exampleDir)
    assert.strictEqual(status, 0, output)
  })

  it("passes its own tests (in-memory pipeline under TestClock, property tests)", () => {
    const { output, status } = runTool("vitest/vitest.mjs", ["run"], exampleDir)
    assert.strictEqual(status, 0, output)
    // Every test file ran and none was skipped: a silently empty run would also exit 0.
    assert.match(output, /Test Files\s+2 passed \(2\)/, output)
    assert.match(output, /Tests\s+3 passed \(3\)/, output)
  })
})
