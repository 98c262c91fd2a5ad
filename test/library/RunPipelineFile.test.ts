/**
 * `tributary run --pipeline <file>` as a real process (dist/main.js, the embedded demo: in-memory broker,
 * the pipeline's own simulator, local feature store): a user's TypeScript or JavaScript module is loaded
 * and run like a built-in pipeline, and a module without a definition stops start-up with one line.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { root } from "../support/LocalService.ts"
import { type RunningService, startService } from "../support/ServiceProcess.ts"
import { exampleDir, examplePipeline, linkExample } from "./ExampleProject.ts"

const readmePipeline = join(exampleDir, "src", "ViewsPerHourPipeline.ts")

/** A stateless pipeline in plain JavaScript, as a user would write it next to an installed package. */
const javascriptPipeline = `
import { Config, Effect, Schema } from "effect"
import { definePipeline, jsonBatchDecoder, PipelineRegistry, sourceSettings, statelessJob } from "tributary"

const Ping = Schema.Struct({ id: Schema.String, n: Schema.Number })

export const pings = definePipeline({
  name: "pings",
  input: "pings",
  description: "Pings, counted",
  settings: Config.all(sourceSettings(["PINGS_TOPIC", "pings"], ["PINGS_GROUP_ID", "pings"])),
  sourceTopics: (settings) => [settings.topic],
  jobs: (settings) =>
    Effect.gen(function*() {
      const stats = yield* (yield* PipelineRegistry).register("pings")
      return [statelessJob({
        name: "pings",
        source: { groupId: settings.groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
        decode: jsonBatchDecoder(Ping),
        output: {
          _tag: "AtLeastOnce",
          write: (rows) => Effect.as(stats.tallyAll("pings by n", rows, (r) => String(r.n % 3)), rows)
        }
      })]
    }),
  simulate: (settings, sim) =>
    Effect.sync(() => {
      let i = 0
      return {
        topic: settings.topic,
        ratePerSecond: sim.ratePerSecond,
        batch: (n) => Array.from({ length: n }, () => ({ key: String(i), value: JSON.stringify({ id: String(i), n: i++ }) }))
      }
    })
})
`

const stop = async (service: RunningService) => {
  service.child.kill("SIGTERM")
  return service.exited
}

describe("run --pipeline <file> (real process, embedded demo)", () => {
  let dir = ""
  beforeAll(() => {
    linkExample()
    dir = mkdtempSync(join(tmpdir(), "tributary-pipeline-file-"))
    // Where a user's module finds the package and effect: its own node_modules (linked, as with `file:`).
    mkdirSync(join(dir, "node_modules"))
    symlinkSync(root, join(dir, "node_modules", "tributary"), "dir")
    symlinkSync(join(root, "node_modules", "effect"), join(dir, "node_modules", "effect"), "dir")
    writeFileSync(join(dir, "pings.js"), javascriptPipeline)
    writeFileSync(join(dir, "helpers.js"), "export const helper = 1\nexport default { name: 'half', jobs: () => [] }\n")
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("runs the example's TypeScript pipelines: session rows reach the feature group, then a clean stop", async () => {
    const service = startService(["run", "--pipeline", examplePipeline, "--pipeline", readmePipeline], {})
    try {
      // Twelve simulated users; hours close within seconds as the simulator's event time catches up.
      await service.waitForOutput(/online table user_session_1h_1: [1-9]\d* rows/, 60_000)
      assert.match(service.output(), /session-features: \d+ in, [1-9]\d* written, \d+ dead-lettered/)
      // The README's pipeline consumes its simulated views (its hours close only after an hour).
      await service.waitForOutput(/views-per-hour: [1-9]\d* in, 0 written, 0 dead-lettered/, 30_000)
    } finally {
      assert.strictEqual(await stop(service), 0, service.output())
    }
  })

  it("runs a JavaScript module's named export next to a built-in pipeline", async () => {
    const service = startService(["run", "transactions", "--pipeline", join(dir, "pings.js")], {})
    try {
      await service.waitForOutput(/pings: \d+ in, [1-9]\d* written/, 60_000)
      await service.waitForOutput(/transactions: \d+ in, [1-9]\d* written/, 60_000)
    } finally {
      assert.strictEqual(await stop(service), 0, service.output())
    }
  })

  it("stops with one line and exit code 2 when the module exports no complete definition", async () => {
    const service = startService(["run", "--pipeline", join(dir, "helpers.js")], {})
    assert.strictEqual(await service.exited, 2, service.output())
    assert.include(service.output(), "no export is a complete pipeline definition: default (input is missing")
    const missing = startService(["run", "--pipeline", join(dir, "nowhere.js")], {})
    assert.strictEqual(await missing.exited, 2, missing.output())
    assert.match(missing.output(), /--pipeline .*nowhere\.js: cannot be loaded: Cannot find module/)
  })
})
