import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Fiber, Layer, Logger, Schedule } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Fingerprint, fingerprintId, makeFingerprint } from "../../src/domain/Fingerprint.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { saveFingerprints } from "../../src/pipelines/fingerprint/FingerprintSaver.ts"
import { fingerprintFilePath, writeFingerprintFile } from "../../src/sinks/files/FingerprintFiles.ts"

const B = 1_706_123_400_000
const good = makeFingerprint({
  equipId: "110",
  type: "kiln",
  startMs: B,
  endMs: B + 60_000,
  data: { "0001": { min: 1, max: 1, median: 1, mean: 1, std_dev: 0 } }
}).fingerprint
const withUuid = (uuid: string, f: Partial<Fingerprint> = {}): Fingerprint => ({ ...good, uuid, ...f })

/** Names that must never become a file anywhere: traversal, absolute paths, separators, not-a-UUID. */
const hostileUuids = [
  "../../../tmp/x",
  "../x",
  "/etc/passwd",
  "..",
  "a/b",
  "a\\b",
  "x\u0000y",
  "",
  `${good.uuid}/../../x`,
  `${good.uuid}\n`,
  "0000000-0000-0000-0000-000000000000"
]

/** /tmp/.../parent/out: what a traversal would reach is inside `parent` (or /tmp for ../../../tmp/x). */
const sandbox = () => {
  const parent = mkdtempSync(join(tmpdir(), "fingerprint-files-"))
  const outDir = join(parent, "out")
  mkdirSync(outDir)
  return { parent, outDir }
}

describe("fingerprint file names", () => {
  it.effect("a UUID-shaped id gives {uuid}_{start}_{end}.json directly in the folder", () =>
    Effect.gen(function*() {
      const { outDir } = sandbox()
      assert.strictEqual(
        yield* fingerprintFilePath(outDir, good),
        join(outDir, `${fingerprintId("110", B)}_${B}_${B + 60_000}.json`)
      )
      // Upper case is still a UUID.
      const upper = withUuid(good.uuid.toUpperCase())
      assert.strictEqual(
        yield* fingerprintFilePath(outDir, upper),
        join(outDir, `${upper.uuid}_${B}_${B + 60_000}.json`)
      )
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a hostile uuid or time range is refused and nothing is written, in or outside the folder", () =>
    Effect.gen(function*() {
      const { outDir, parent } = sandbox()
      const hostile = [
        ...hostileUuids.map((u) => withUuid(u)),
        // Not a file-name risk, but a Date cannot hold it: the file's ISO times would throw.
        withUuid(good.uuid, { start_ms: 1e20, end_ms: 1e20 + 60_000 }),
        withUuid(good.uuid, { start_ms: B + 60_000, end_ms: B })
      ]
      for (const f of hostile) {
        const exit = yield* Effect.exit(writeFingerprintFile(outDir, f, []))
        assert.isTrue(Exit.isFailure(exit), `refused: ${JSON.stringify(f.uuid)} ${f.start_ms}`)
        const error = yield* Effect.flip(fingerprintFilePath(outDir, f))
        assert.strictEqual(error._tag, "UnsafeFingerprintFile")
        assert.notInclude(error.reason, "\n", "the reason quotes the id escaped")
      }
      assert.deepStrictEqual(readdirSync(outDir), [])
      assert.deepStrictEqual(readdirSync(parent), ["out"])
      assert.isFalse(existsSync(`/tmp/x_${B}_${B + 60_000}.json`))
    }).pipe(Effect.provide(NodeServices.layer)))
})

const env = {
  SENSOR_TOPIC: "sensors-files",
  FINGERPRINT_TOPIC: "fingerprints-files",
  FINGERPRINT_GROUP_ID: "fp-files-test"
}

const awaitTrue = (check: () => boolean) =>
  Effect.sync(check).pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("50 millis"), times: 200 }),
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.die(new Error("timed out waiting"))))
  )

describe("save-fingerprints with hostile fingerprint records", () => {
  it.live(
    "skips each with a warning naming its coordinates, writes the good one, and nothing outside --out",
    () => {
      const logs: Array<string> = []
      const capture = Logger.make((options) => {
        logs.push(Logger.formatJson.log(options))
      })
      return Effect.gen(function*() {
        const { outDir, parent } = sandbox()
        const start = B + 7 * 60_000
        const sink = yield* KafkaSink
        yield* sink.send([
          {
            topic: env.SENSOR_TOPIC,
            key: "110",
            value: JSON.stringify({ equip_id: 110, timestamp: start + 1_000, data: { "0001": "1" } })
          }
        ])
        // All on one partition (one key), the valid fingerprint last: once its file exists, the others were handled.
        const hostile = ["../../../tmp/x", "../escaped", "/tmp/absolute"].map((uuid) =>
          withUuid(uuid, { start_ms: start, end_ms: start + 60_000 })
        )
        const valid = withUuid(fingerprintId("110", start), { start_ms: start, end_ms: start + 60_000 })
        yield* sink.send(
          [...hostile, valid].map((fingerprint) => ({
            topic: env.FINGERPRINT_TOPIC,
            key: "110",
            partition: 0,
            value: JSON.stringify({ fingerprint })
          }))
        )

        const fiber = yield* Effect.forkChild(saveFingerprints({ outDir }))
        const validName = `${valid.uuid}_${start}_${start + 60_000}.json`
        yield* awaitTrue(() => existsSync(join(outDir, validName)))
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(fiber)

        assert.deepStrictEqual(readdirSync(outDir), [validName])
        assert.deepStrictEqual(JSON.parse(readFileSync(join(outDir, validName), "utf8")).fingerprint, valid)
        assert.deepStrictEqual(readdirSync(parent), ["out"], "nothing beside the folder")
        assert.isFalse(existsSync(`/tmp/x_${start}_${start + 60_000}.json`), "nothing in /tmp")

        const warnings = logs.filter((l) => l.includes("skipped the fingerprint"))
        assert.strictEqual(warnings.length, hostile.length, logs.join("\n"))
        hostile.forEach((f, offset) => {
          const line = warnings.find((w) => w.includes(`${env.FINGERPRINT_TOPIC} partition 0 offset ${offset}:`))
          assert.isDefined(line, `warning for offset ${offset}`)
          assert.include(line!, JSON.stringify(JSON.stringify(f.uuid)).slice(1, -1), "names the refused id")
          assert.include(line!, "WARN")
        })
        const stats = (yield* (yield* PipelineRegistry).all).find((p) => p.name === "save-fingerprints")!
        assert.strictEqual(stats.dropped, hostile.length)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            InMemoryBroker.layerWithKafka({ defaultPartitions: 2 }),
            PipelineRegistry.layer,
            NodeServices.layer,
            ConfigProvider.layer(ConfigProvider.fromEnv({ env })),
            Logger.layer([capture])
          )
        )
      )
    },
    30_000
  )
})
