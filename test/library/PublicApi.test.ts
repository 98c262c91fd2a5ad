/**
 * The built-in pipelines are written against the public API, like a user's: whatever they take from the
 * framework (runner, window engine, Kafka, feature store, stats, retries, shared sinks) comes through
 * src/index.ts, and main.ts starts them with `runApp`. Their own code (settings, domain, simulators,
 * their stores) they import directly.
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import * as api from "../../src/index.ts"
import { root } from "../support/LocalService.ts"

/** Framework folders: nothing of theirs may be imported but through src/index.ts. */
const framework = /^(\.\.\/)+(runner|window|kafka|observability|hopsworks|shared|app|cli)\//
/** Shared sinks that also hold a built-in pipeline's own pieces (the ecommerce index's document shape). */
const sharedSinks = /sinks\/(search\/SearchIndexer|cassandra\/Cassandra(Client|Error))\.ts$/

const importsOf = (file: string) =>
  [...readFileSync(file, "utf8").matchAll(/^import (type )?\{([^}]*)\} from "([^"]+)"/gm)].map((m) => ({
    names: m[2]!.split(",").map((n) => n.trim().replace(/^type /, "")).filter((n) => n !== ""),
    from: m[3]!
  }))

const pipelineFiles = readdirSync(join(root, "src/pipelines"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".ts"))
  .map((f) => join(root, "src/pipelines", f))

describe("public API", () => {
  it("the built-in pipelines take framework pieces only from src/index.ts", () => {
    assert.isAtLeast(pipelineFiles.length, 6)
    for (const file of pipelineFiles) {
      for (const { from, names } of importsOf(file)) {
        const where = `${relative(root, file)} imports ${names.join(", ")} from ${from}`
        assert.isFalse(framework.test(from), `${where}: framework code goes through src/index.ts`)
        if (sharedSinks.test(from)) {
          assert.deepStrictEqual(names.filter((n) => n in api), [], `${where}: public names go through src/index.ts`)
        }
      }
    }
  })

  it("main.ts runs the built-in pipelines through runApp, the entry users get", () => {
    const main = readFileSync(join(root, "src/main.ts"), "utf8")
    assert.match(main, /import \{ runApp \} from "\.\/index\.ts"/)
    assert.match(main, /runApp\(\{ pipelines: builtInPipelines/)
    assert.strictEqual(typeof api.runApp, "function")
  })
})
