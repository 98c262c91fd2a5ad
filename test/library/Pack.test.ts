/**
 * What `npm pack` ships is a package a fresh TypeScript project can use: its `exports` resolve, the
 * declarations type-check a pipeline written against them (and reject a wrong one), and the module
 * loads in Node. Offline: the tarball is unpacked into the project's node_modules, and the package's
 * dependencies are linked from this checkout's node_modules instead of being downloaded.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { root } from "../support/LocalService.ts"
import { runTool } from "./ExampleProject.ts"

const consumer = `
import { Config, Effect, Layer } from "effect"
import {
  Aggregator,
  type AppOptions,
  definePipeline,
  FeatureStore,
  type Firing,
  inMemoryServices,
  jsonBatchDecoder,
  type KafkaRecord,
  makeWindowEngine,
  sourceSettings,
  tumbling,
  type WindowEngine,
  windowedJob
} from "tributary"
import { Schema } from "effect"

const Reading = Schema.Struct({ sensor: Schema.String, at: Schema.Number, value: Schema.Number })

const meanPerMinute: WindowEngine<string, number, number | null> = makeWindowEngine({
  assigner: tumbling(60_000),
  aggregator: Aggregator.mean,
  outOfOrdernessMs: 5_000
})

export const readings = definePipeline({
  name: "readings",
  input: "readings",
  description: "Per sensor, 1-minute means",
  settings: Config.all(sourceSettings(["READINGS_TOPIC", "readings"], ["READINGS_GROUP", "readings"])),
  sourceTopics: (s) => [s.topic],
  jobs: (s) =>
    Effect.gen(function*() {
      const fg = yield* Effect.flatMap(FeatureStore, (store) =>
        store.featureGroup({
          name: "sensor_1m",
          version: 1,
          primaryKey: ["sensor"],
          features: [{ name: "sensor", type: "string" }, { name: "mean", type: "double" }]
        }))
      return [windowedJob({
        name: "readings",
        source: { groupId: s.groupId, topics: [s.topic], deadLetters: s.deadLetters },
        decode: jsonBatchDecoder(Reading),
        windows: {
          engine: meanPerMinute,
          toWindowRecord: (r: typeof Reading.Type, record: KafkaRecord) => ({
            offset: Number(record.offset),
            eventTime: r.at,
            key: r.sensor,
            value: r.value
          })
        },
        output: {
          _tag: "AtLeastOnce",
          write: (fired: ReadonlyArray<Firing<string, number | null>>) => {
            const rows = fired.map((f) => ({ sensor: f.key, mean: f.result }))
            return Effect.as(fg.write(rows), rows)
          }
        }
      })]
    }),
  simulate: (s, sim) => Effect.succeed({ topic: s.topic, ratePerSecond: sim.ratePerSecond, batch: () => [] })
})

export const options: AppOptions = { pipelines: [readings] }
export const testLayer: Layer.Layer<FeatureStore, unknown> = inMemoryServices()

// The declarations are real types, not \`any\`: a definition without jobs is refused.
// @ts-expect-error jobs is missing
definePipeline({ name: "x", input: "x", description: "", settings: Config.succeed(1), sourceTopics: () => [], simulate: () => Effect.die("") })

console.log(JSON.stringify({ name: readings.name, runApp: typeof (await import("tributary")).runApp }))
`

describe("npm pack", () => {
  let dir = ""
  let files: Array<string> = []
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tributary-pack-"))
    const npm = process.platform === "win32" ? "npm.cmd" : "npm"
    const packed = JSON.parse(
      execFileSync(npm, ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" })
    ) as Array<{ filename: string; files: Array<{ path: string }> }>
    files = packed[0]!.files.map((f) => f.path)
    const project = join(dir, "project")
    const unpacked = join(project, "node_modules", "tributary")
    mkdirSync(unpacked, { recursive: true })
    execFileSync("tar", ["-xzf", join(dir, packed[0]!.filename), "-C", unpacked, "--strip-components=1"])
    // The package's dependencies (and Node's types), linked from this checkout instead of downloaded.
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>
    }
    for (const name of [...Object.keys(manifest.dependencies), "@types/node"]) {
      const target = join(project, "node_modules", name)
      mkdirSync(join(target, ".."), { recursive: true })
      symlinkSync(join(root, "node_modules", name), target, "dir")
    }
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2024",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          types: ["node"],
          noEmit: true
        },
        include: ["consumer.ts"]
      })
    )
    writeFileSync(join(project, "consumer.ts"), consumer)
  }, 120_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("ships the built code, its declarations and the dashboard, not the sources or tests", () => {
    for (const file of ["package.json", "dist/index.js", "dist/index.d.ts", "dist/main.js", "README.md"]) {
      assert.include(files, file)
    }
    assert.include(files, "dist/observability/dashboard/index.html")
    assert.isFalse(files.some((f) => f.startsWith("src/") || f.startsWith("test/") || f.startsWith("examples/")))
  })

  it("type-checks a fresh project's pipeline against the exported declarations", () => {
    const { output, status } = runTool("typescript/bin/tsc", ["-p", "tsconfig.json"], join(dir, "project"))
    assert.strictEqual(status, 0, output)
  })

  it("loads in Node through its exports", () => {
    const run = spawnSync(process.execPath, ["consumer.ts"], { cwd: join(dir, "project"), encoding: "utf8" })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.deepStrictEqual(JSON.parse(run.stdout.trim().split("\n").at(-1)!), { name: "readings", runApp: "function" })
  })
})
