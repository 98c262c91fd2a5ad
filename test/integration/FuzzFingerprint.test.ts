import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { readTopic } from "../support/FeatureGroupTopic.ts"
import {
  buildCorpus,
  checkDeadLetters,
  checkpointReaches,
  type CorpusEntry,
  type CorpusSpec,
  jsonBytes,
  parsed,
  produceCorpus,
  raw,
  serviceProcess,
  stopService,
  until,
  wholeTopic
} from "../support/HostileRecords.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"

/**
 * `late`: valid, but its window had closed (the watermark passed it): counted, never in a fingerprint.
 * `no readings`: valid, but every reading is missing, so its window has nothing to fingerprint (as the seed).
 * `output too large`: valid, but its fingerprint is larger than the broker takes (OUTPUT_MAX_RECORD_BYTES):
 * dead-lettered as a prefix of the fingerprint instead of being produced.
 */
type Outcome = "written" | "dead-lettered" | "late" | "no readings" | "output too large"
const W: Outcome = "written"
const D: Outcome = "dead-lettered"
const L: Outcome = "late"
const DAY = 86_400_000
const MINUTE = 60_000

const manySensors = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`s${i}`, String(i)]))
/** A 0.3 MB message whose fingerprint (five statistics per sensor) is about 1.5 MB. */
const tooManySensors = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`s${i}`, String(i)]))

/**
 * What the fingerprint pipeline does with each hostile value. Every record has an equipment of its
 * own, so a written one becomes exactly one fingerprint whose statistics are its own readings.
 */
const spec = (now: number): CorpusSpec<Outcome> => ({
  good: (n, eventTime) => ({
    equip_id: `eq-${n}`,
    timestamp: eventTime,
    data: { "0001": `${n % 50}.25`, "0002": "null" }
  }),
  key: (v) => String(v["equip_id"]),
  idField: "equip_id",
  written: W,
  deadLettered: D,
  fields: [
    {
      name: "equip_id",
      types: ["number", "string"],
      // The equipment becomes the Kafka key and the name of the fingerprint's uuid: UTF-8 bytes.
      outcomes: { empty: D, nul: W, loneSurrogate: D, oversized: W, negativeZero: W },
      edges: [
        { label: "a number", value: 110, outcome: W },
        { label: "2^53 + 1", value: raw("9007199254740993"), outcome: D },
        { label: "1.5", value: 1.5, outcome: D }
      ]
    },
    {
      name: "timestamp",
      types: ["number"],
      outcomes: { negativeZero: L },
      edges: [
        { label: "far past (1970-01-01)", value: 0, outcome: L },
        { label: "far future (now + 30 days), beyond MAX_FUTURE_SKEW_SECONDS", value: now + 30 * DAY, outcome: D },
        { label: "before 1970", value: -1, outcome: D },
        { label: "1.5", value: 1.5, outcome: D },
        { label: "an ISO string", value: new Date(now).toISOString(), outcome: D }
      ]
    },
    {
      name: "data",
      types: ["object"],
      outcomes: {},
      edges: [
        { label: "{}", value: {}, outcome: "no readings" },
        { label: "only \"null\" and null readings", value: { "0001": "null", "0002": null }, outcome: "no readings" },
        { label: "a reading \"1e400\"", value: { "0001": "1e400" }, outcome: D },
        { label: "a reading 1e400", value: { "0001": raw("1e400") }, outcome: D },
        { label: "a reading \"\"", value: { "0001": "" }, outcome: D },
        { label: "a reading \"abc\"", value: { "0001": "abc" }, outcome: D },
        { label: "a reading \"0x10\"", value: { "0001": "0x10" }, outcome: D },
        { label: "a reading true", value: { "0001": true }, outcome: D },
        { label: "a reading [1]", value: { "0001": [1] }, outcome: D },
        { label: "a reading \"-0\"", value: { "0001": "-0" }, outcome: W },
        { label: "a reading -0", value: { "0001": raw("-0") }, outcome: W },
        { label: "a reading \"1e3\"", value: { "0001": "1e3" }, outcome: W },
        { label: "the largest double", value: { "0001": raw("1.7976931348623157e308") }, outcome: W },
        { label: "NUL in a sensor id", value: { "00\u00001": "1" }, outcome: W },
        { label: "a lone surrogate in a sensor id", value: { "\ud800": "1" }, outcome: D },
        { label: "an empty sensor id", value: { "": "1" }, outcome: W },
        { label: "1000 sensors", value: manySensors, outcome: W },
        { label: "20000 sensors: a fingerprint over 1 MB", value: tooManySensors, outcome: "output too large" }
      ]
    }
  ]
})

/** The fingerprint a written record must become: per sensor with a reading, the five statistics of that one value. */
const expectedFingerprint = (entry: CorpusEntry<Outcome>) => {
  const v = parsed(entry)
  const t = v["timestamp"] as number
  const data: Record<string, unknown> = {}
  for (const [sensor, reading] of Object.entries(v["data"] as Record<string, unknown>)) {
    if (reading === null || reading === "null") continue
    const x = Number(reading)
    data[sensor] = { min: x, max: x, median: x, mean: x, std_dev: 0 }
  }
  const start = t - (t % MINUTE)
  // JSON round trip: the output is JSON (-0 is written as 0).
  return JSON.parse(JSON.stringify({ equip_id: String(v["equip_id"]), start_ms: start, end_ms: start + MINUTE, data }))
}

const fingerprintOf = (r: KafkaRecord) =>
  (JSON.parse(r.value!.toString("utf8")) as { fingerprint: Record<string, unknown> }).fingerprint

describe("fuzz: fingerprint service process", () => {
  it.live(
    "every hostile record in a fingerprint, late, without readings or dead-lettered with a reason; every good one fingerprinted; the checkpoint at the end",
    () =>
      Effect.gen(function*() {
        const now = Date.now()
        const topic = uniqueName("fuzz-sensors")
        const outputTopic = uniqueName("fuzz-fingerprints")
        const groupId = uniqueName("fuzz-fingerprint-group")
        const sensors = spec(now)
        const baseTime = now - 3_600_000
        const corpus = buildCorpus(sensors, { baseTime, stepMs: 10 })
        // After the corpus, one record ten minutes later closes every window before it (its own stays open).
        const closing = { equip_id: "closing", timestamp: baseTime + 10 * MINUTE, data: { "0001": "1" } }
        const end = corpus.length + 1

        const service = yield* serviceProcess("fingerprint", "fingerprint", {
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          SENSOR_TOPIC: topic,
          FINGERPRINT_TOPIC: outputTopic,
          FINGERPRINT_GROUP_ID: groupId,
          // Info: the line naming the metrics port is how the test finds /metrics.
          LOG_LEVEL: "Info"
        })
        // The first two (good) records alone, so that the watermark has moved before the rest arrives:
        // a past-dated record is then late whatever the batches are.
        yield* produceCorpus(topic, corpus.slice(0, 2))
        yield* until(service, "the job past the first records", checkpointReaches(groupId, topic, 2))
        yield* produceCorpus(topic, [
          ...corpus.slice(2),
          { offset: corpus.length, key: "closing", value: jsonBytes(closing), good: false }
        ])
        yield* until(service, `the checkpoint at ${end}`, checkpointReaches(groupId, topic, end))

        const written = corpus.filter((e) => e.good || e.hostile!.outcome === W)
        // Fingerprints are committed with the checkpoint (one Kafka transaction): all there by now.
        const [deadLetters, output] = yield* Effect.all([
          wholeTopic(`${topic}.dlq`),
          readTopic(outputTopic, (rs) => rs.length >= written.length, "20 seconds")
        ], { concurrency: 2 })
        // Dead letters of outputs name the output topic; the rest are input records.
        const isOutput = (r: KafkaRecord) => r.headers[DeadLetterHeaders.topic]?.toString() === outputTopic
        checkDeadLetters(deadLetters.filter((r) => !isOutput(r)), topic, {
          expected: corpus.filter((e) => e.hostile?.outcome === D),
          corpus
        })
        const tooLarge = corpus.filter((e) => e.hostile?.outcome === "output too large")
        const outputDeadLetters = deadLetters.filter(isOutput)
        assert.deepStrictEqual(
          outputDeadLetters.map((r) => r.key?.toString()),
          tooLarge.map((e) => String(parsed(e)["equip_id"])),
          "each fingerprint too large for the broker dead-lettered once"
        )
        for (const r of outputDeadLetters) {
          assert.include(r.headers[DeadLetterHeaders.reason]?.toString(), "OUTPUT_MAX_RECORD_BYTES")
          assert.isAbove(Number(r.headers[DeadLetterHeaders.truncated]?.toString()), 1_000_000)
          assert.isTrue(r.value!.toString().startsWith("{"), "a prefix of the fingerprint")
        }

        const byEquipment = new Map(output.map((r) => [String(fingerprintOf(r)["equip_id"]), r]))
        const missing = written.filter((e) => !byEquipment.has(expectedFingerprint(e).equip_id))
        assert.deepStrictEqual(missing.map((e) => e.hostile?.label ?? `good ${e.offset}`), [], "fingerprints missing")
        assert.strictEqual(output.length, written.length, "one fingerprint per written record, none twice")
        for (const e of written) {
          const want = expectedFingerprint(e)
          const record = byEquipment.get(want.equip_id)!
          const { type: _t, uuid: _u, ...got } = fingerprintOf(record)
          assert.deepStrictEqual(got, want, e.hostile?.label ?? "good record")
          assert.strictEqual(record.key?.toString("utf8"), want.equip_id, "keyed by the equipment")
        }
        for (const e of corpus) {
          if (e.hostile?.shadowed !== undefined) assert.isFalse(byEquipment.has(String(e.hostile.shadowed)))
        }
        for (const e of tooLarge) assert.isFalse(byEquipment.has(String(parsed(e)["equip_id"])), e.hostile!.label)
        const noReadings = corpus.filter((e) => e.hostile?.outcome === "no readings")
        for (const e of noReadings) assert.isFalse(byEquipment.has(String(parsed(e)["equip_id"])), e.hostile!.label)

        const late = corpus.filter((e) => e.hostile?.outcome === L).length
        const lateCounted = Effect.promise(() => service.metric("tributary_late_records_total"))
        yield* until(service, "the metrics endpoint", Effect.map(lateCounted, (n) => n !== undefined))
        assert.strictEqual(yield* lateCounted, late, "late records counted")
        assert.isTrue(service.alive(), "the service never exited")
        assert.strictEqual(yield* stopService(service), 0)
        console.log(
          `[fuzz fingerprint] ${corpus.length} records: ${written.length} fingerprints, ${late} late, ` +
            `${noReadings.length} without readings, ${deadLetters.length} dead-lettered`
        )
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    60_000
  )
})
