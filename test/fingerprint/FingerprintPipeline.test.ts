import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Schedule, Schema } from "effect"
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fingerprintSettings } from "../../src/config/FingerprintConfig.ts"
import { fingerprintId, FingerprintMessage } from "../../src/domain/Fingerprint.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import {
  fingerprintAggregator,
  fingerprintPipeline,
  fingerprintRecords,
  makeFingerprintEngine,
  runFingerprintPipeline
} from "../../src/pipelines/fingerprint/FingerprintPipeline.ts"
import { saveFingerprints } from "../../src/pipelines/fingerprint/FingerprintSaver.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { Aggregator } from "../../src/window/index.ts"

/** The seed's statistics, written plainly: population standard deviation (statistics.pstdev). */
const reference = (values: ReadonlyArray<number>) => {
  const s = [...values].sort((a, b) => a - b)
  const n = s.length
  const mean = s.reduce((a, b) => a + b, 0) / n
  const median = n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
  const std_dev = Math.sqrt(s.reduce((a, x) => a + (x - mean) ** 2, 0) / n)
  return { min: s[0]!, max: s[n - 1]!, median, mean, std_dev }
}

const assertStats = (actual: Record<string, number>, expected: Record<string, number>, what: string) => {
  assert.deepStrictEqual(
    Object.keys(actual),
    ["min", "max", "median", "mean", "std_dev"],
    `${what}: keys in the seed's order`
  )
  for (const k of Object.keys(expected)) {
    assert.approximately(actual[k]!, expected[k]!, 1e-9 * Math.max(1, Math.abs(expected[k]!)), `${what}.${k}`)
  }
}

const B = 1_706_123_400_000 // a minute boundary
const env = {
  SENSOR_TOPIC: "sensors",
  FINGERPRINT_TOPIC: "fingerprints",
  FINGERPRINT_GROUP_ID: "fp-test",
  WATERMARK_IDLE_SECONDS: "1",
  EQUIPMENT_TYPES: "111=dryer"
}
const testLayer = () =>
  Layer.mergeAll(
    InMemoryBroker.layerWithKafka({ defaultPartitions: 3 }),
    PipelineRegistry.layer,
    NodeServices.layer,
    ConfigProvider.layer(ConfigProvider.fromEnv({ env }))
  )

const msg = (equip_id: number, t: number, data: Record<string, unknown>) =>
  JSON.stringify({ equip_id, timestamp: B + t, data })
const input: ReadonlyArray<{ key: string; value: string }> = [
  { key: "110", value: msg(110, 1_000, { "0001": "10.5", "0002": "null", "0003": "5" }) },
  { key: "110", value: msg(110, 2_000, { "0001": "20", "0002": null, "0003": "7" }) },
  { key: "111", value: msg(111, 3_000, { "0001": "1" }) },
  { key: "112", value: msg(112, 4_000, { "0001": "null", "0002": "null" }) },
  { key: "110", value: msg(110, 30_000, { "0001": 30 }) },
  { key: "110", value: msg(110, 65_000, { "0001": "99" }) }, // next window, before an older record:
  { key: "110", value: msg(110, 58_000, { "0001": "40", "0003": "null" }) }, // 7 s out of order: still on time
  { key: "110", value: "{not json" },
  { key: "111", value: msg(111, 5_000, { "0001": "one" }) },
  { key: "112", value: JSON.stringify({ equip_id: 112, data: {} }) },
  ...["110", "111", "112"].map((k) => ({ key: k, value: msg(Number(k), 75_000, { "0001": "50" }) }))
]

const valuesOf = (records: ReadonlyArray<ReadonlyArray<KafkaRecord>>) =>
  records.flat().map((r) => r.value!.toString("utf8"))

const awaitTrue = (check: () => boolean) =>
  Effect.sync(check).pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("50 millis"), times: 400 }),
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.die(new Error("timed out waiting"))))
  )

/** Publishes `input`, runs the pipeline until both fingerprints are out (plus a grace period), stops it. */
const runScenario = Effect.gen(function*() {
  const broker = yield* InMemoryBroker
  const sink = yield* KafkaSink
  const settings = yield* fingerprintSettings
  yield* sink.send(input.map((r) => ({ topic: settings.topic, ...r })))
  const fiber = yield* Effect.forkChild(Effect.scoped(runFingerprintPipeline(settings)))
  yield* awaitTrue(() => broker.read(settings.outputTopic).flat().length >= 2)
  yield* Effect.sleep("1500 millis")
  yield* Fiber.interrupt(fiber)
  return { broker, settings }
})

describe("fingerprint pipeline on the in-memory broker", () => {
  it.live(
    "emits the seed's fingerprint JSON per equipment and window; nulls never enter a statistic",
    () =>
      Effect.gen(function*() {
        const { broker, settings } = yield* runScenario
        const out = broker.read(settings.outputTopic).flat().toSorted((a, b) =>
          a.key!.toString().localeCompare(b.key!.toString())
        )
        assert.deepStrictEqual(
          out.map((r) => r.key?.toString()),
          ["110", "111"],
          "one per equipment with readings; 112 had only nulls"
        )

        const [f110, f111] = out.map((r) =>
          Schema.decodeUnknownSync(FingerprintMessage)(JSON.parse(r.value!.toString()))
        )
        assert.deepStrictEqual(Object.keys(JSON.parse(out[0]!.value!.toString())), ["fingerprint"])
        assert.deepStrictEqual(Object.keys(f110!.fingerprint), [
          "uuid",
          "equip_id",
          "type",
          "start_ms",
          "end_ms",
          "data"
        ])
        assert.deepStrictEqual(
          { ...f110!.fingerprint, data: Object.keys(f110!.fingerprint.data) },
          {
            uuid: fingerprintId("110", B),
            equip_id: "110",
            type: "kiln",
            start_ms: B,
            end_ms: B + 60_000,
            data: ["0001", "0003"]
          }
        )
        assertStats(f110!.fingerprint.data["0001"]!, reference([10.5, 20, 30, 40]), "110.0001")
        assertStats(f110!.fingerprint.data["0003"]!, reference([5, 7]), "110.0003")
        assert.strictEqual(
          f110!.fingerprint.data["0001"]!.std_dev,
          Math.sqrt(((10.5 - 25.125) ** 2 + 5.125 ** 2 + 4.875 ** 2 + 14.875 ** 2) / 4)
        )
        assert.strictEqual(f111!.fingerprint.type, "dryer", "EQUIPMENT_TYPES")
        assert.deepStrictEqual(
          f111!.fingerprint.data,
          { "0001": { min: 1, max: 1, median: 1, mean: 1, std_dev: 0 } },
          "pstdev of one value is 0"
        )
        assert.strictEqual(typeof JSON.parse(out[0]!.value!.toString()).fingerprint.equip_id, "string")

        const dead = broker.read(`${settings.topic}.dlq`).flat()
        assert.strictEqual(dead.length, 3)
        assert.deepStrictEqual(
          dead.map((r) => r.headers[DeadLetterHeaders.reason]!.toString()).map((s) => s.split(":")[0]),
          [
            "not JSON",
            "data.0001",
            "timestamp"
          ]
        )
        // The checkpoint went with the output: offsets and watermark metadata are committed.
        const committed = [0, 1, 2].map((partition) =>
          broker.committed(settings.groupId, { topic: settings.topic, partition })
        )
        assert.isTrue(committed.some((c) => c !== undefined && JSON.parse(c.metadata!).w >= B + 60_000))
      }).pipe(Effect.provide(testLayer())),
    30_000
  )

  it.live(
    "the saver writes one file per fingerprint with its window's inputs, idempotently",
    () =>
      Effect.gen(function*() {
        const { broker, settings } = yield* runScenario
        const outDir = mkdtempSync(join(tmpdir(), "fingerprints-"))
        const save = Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(saveFingerprints({ outDir }))
          yield* awaitTrue(() => readdirSync(outDir).filter((f) => f.endsWith(".json")).length >= 2)
          yield* Effect.sleep("300 millis")
          yield* Fiber.interrupt(fiber)
          return readdirSync(outDir).toSorted()
        })
        const files = yield* save
        const fingerprints = valuesOf(broker.read(settings.outputTopic)).map((v) => JSON.parse(v).fingerprint)
        assert.deepStrictEqual(files, fingerprints.map((f) => `${f.uuid}_${f.start_ms}_${f.end_ms}.json`).toSorted())

        const f110 = fingerprints.find((f) => f.equip_id === "110")
        const saved = JSON.parse(readFileSync(join(outDir, `${f110.uuid}_${B}_${B + 60_000}.json`), "utf8"))
        assert.deepStrictEqual(saved.fingerprint, f110)
        assert.deepStrictEqual(saved.sensor_data.window, {
          start_ms: B,
          end_ms: B + 60_000,
          start_time: new Date(B).toISOString(),
          end_time: new Date(B + 60_000).toISOString()
        })
        assert.deepStrictEqual(
          saved.sensor_data.readings,
          [1_000, 2_000, 30_000, 58_000].map((t) =>
            input.map((r) => JSON.parse(r.value.startsWith("{\"") ? r.value : "{}")).find((m) =>
              m.equip_id === 110 && m.timestamp === B + t
            )
          ),
          "the window's messages as published, nulls included, in event-time order"
        )
        assert.strictEqual(saved.sensor_data.reading_count, 4)

        const before = files.map((f) => [readFileSync(join(outDir, f), "utf8"), statSync(join(outDir, f)).mtimeMs])
        const again = yield* save
        assert.deepStrictEqual(again, files, "a replay writes the same names and no temporary files remain")
        assert.deepStrictEqual(
          files.map((f) => [readFileSync(join(outDir, f), "utf8"), statSync(join(outDir, f)).mtimeMs]),
          before
        )
      }).pipe(Effect.provide(testLayer())),
    30_000
  )

  it("fingerprintRecords: all-null windows give nothing; the record is keyed by equip_id", () => {
    const engine = makeFingerprintEngine({ windowSizeMs: 60_000, outOfOrdernessMs: 0, idleTimeoutMs: Infinity })
    engine.assign(0)
    const r = engine.process(0, [
      { offset: 0, eventTime: B, key: "a", value: [{ sensor: "s", value: 2 }, { sensor: "s", value: 4 }] },
      { offset: 1, eventTime: B, key: "b", value: [] },
      { offset: 2, eventTime: B + 60_000, key: "a", value: [] }
    ], 0)
    const { records, rows } = fingerprintRecords(
      { outputTopic: "out", equipmentTypes: {}, defaultEquipmentType: "kiln" },
      r.fired
    )
    assert.deepStrictEqual(r.fired.map((f) => f.key), ["a", "b"])
    assert.strictEqual(records.length, 1)
    assert.strictEqual(records[0]!.key, "a")
    assert.strictEqual(
      records[0]!.value,
      JSON.stringify({
        fingerprint: {
          uuid: fingerprintId("a", B),
          equip_id: "a",
          type: "kiln",
          start_ms: B,
          end_ms: B + 60_000,
          data: { s: { min: 2, max: 4, median: 3, mean: 3, std_dev: 1 } }
        }
      })
    )
    assert.strictEqual(rows.length, 1)
  })

  it("the aggregator merges partial windows like a single pass", () => {
    const readings = Array.from({ length: 50 }, (_, i) => ({ sensor: `s${i % 3}`, value: (i * 37) % 101 }))
    const whole = Aggregator.aggregateAll(fingerprintAggregator, [readings])
    const left = Aggregator.aggregateAll(fingerprintAggregator, [readings.slice(0, 20)])
    let acc = fingerprintAggregator.add(fingerprintAggregator.empty(), readings.slice(0, 20))
    acc = fingerprintAggregator.merge(acc, fingerprintAggregator.add(fingerprintAggregator.empty(), readings.slice(20)))
    const merged = fingerprintAggregator.result(acc)
    assert.deepStrictEqual(Object.keys(merged), ["s0", "s1", "s2"])
    for (const s of Object.keys(whole)) {
      const values = readings.filter((r) => r.sensor === s).map((r) => r.value)
      assertStats(merged[s] as Record<string, number>, reference(values), s)
      assertStats(whole[s] as Record<string, number>, reference(values), s)
    }
    assert.isDefined(left["s0"])
  })

  it("the definition is named fingerprint and consumes SENSOR_TOPIC", () =>
    Effect.runPromise(
      Effect.map(fingerprintPipeline.settings, fingerprintPipeline.sourceTopics).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
      )
    ).then((topics) => {
      assert.strictEqual(fingerprintPipeline.name, "fingerprint")
      assert.deepStrictEqual(topics, ["sensors"])
    }))
})
