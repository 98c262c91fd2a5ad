import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { fingerprintSettings, parseIdList, parseTypeMap } from "../../src/config/FingerprintConfig.ts"
import { type SensorMessage, unnestReadings } from "../../src/domain/SensorReading.ts"
import { decodeSensorEvents } from "../../src/pipelines/fingerprint/FingerprintPipeline.ts"
import { SensorSimulator } from "../../src/simulator/SensorSimulator.ts"
import { recordsOn } from "../support/KafkaRecords.ts"

const record = recordsOn("sensor-data")

const settingsFrom = (env: Record<string, string>) => fingerprintSettings.parse(ConfigProvider.fromEnv({ env }))

describe("sensor messages: decode, unnest, null filtering", () => {
  it("decodes the seed's message and unnests its sensor map, dropping and counting nulls", () => {
    const counter = { nulls: 0 }
    const message = {
      equip_id: 110,
      timestamp: 1706123456789,
      data: { "0001": "45.234", "0002": "null", "0003": null, "0004": 23.5, "0005": "-1e2" }
    }
    const { malformed, valid } = decodeSensorEvents(counter)([record(JSON.stringify(message))])
    assert.strictEqual(malformed.length, 0)
    assert.deepStrictEqual(valid.map((v) => v.value), [{
      equipId: "110",
      timestamp: 1706123456789,
      readings: [{ sensor: "0001", value: 45.234 }, { sensor: "0004", value: 23.5 }, { sensor: "0005", value: -100 }]
    }])
    assert.strictEqual(counter.nulls, 2, "\"null\" and null are counted, not errors")
  })

  it("a message with only null readings is valid and has no readings", () => {
    const counter = { nulls: 0 }
    const { malformed, valid } = decodeSensorEvents(counter)([
      record(JSON.stringify({ equip_id: "SCL_LINE_2_KILN", timestamp: 5, data: { a: "null", b: "null" } })),
      record(JSON.stringify({ equip_id: 111, timestamp: 5, data: {} }), 1)
    ])
    assert.strictEqual(malformed.length, 0)
    assert.deepStrictEqual(valid.map((v) => [v.value.equipId, v.value.readings.length]), [["SCL_LINE_2_KILN", 0], [
      "111",
      0
    ]])
    assert.strictEqual(counter.nulls, 2)
  })

  it("anything not of the message's shape is a MalformedRecord naming the problem", () => {
    const bad = [
      "{not json",
      JSON.stringify({ timestamp: 1, data: {} }),
      JSON.stringify({ equip_id: 110, timestamp: "2024-01-24T10:00:00Z", data: {} }),
      JSON.stringify({ equip_id: 110, timestamp: 1, data: { "0001": "n/a" } }),
      JSON.stringify({ equip_id: 110, timestamp: 1, data: { "0001": "" } }),
      JSON.stringify({ equip_id: 110, timestamp: 1, data: { "0001": "Infinity" } }),
      JSON.stringify({ equip_id: 110, timestamp: 1, data: [{ "0001": "1" }] }),
      JSON.stringify({ equip_id: 1.5, timestamp: 1, data: {} }),
      JSON.stringify({ equip_id: 110, timestamp: -1, data: {} }),
      "[]",
      null
    ]
    const { malformed, valid } = decodeSensorEvents({ nulls: 0 })(bad.map((v, i) => record(v, i)))
    assert.strictEqual(valid.length, 0)
    assert.strictEqual(malformed.length, bad.length)
    for (const m of malformed) {
      assert.strictEqual(m.error._tag, "MalformedRecord")
      assert.strictEqual(m.error.topic, "sensor-data")
      assert.isAbove(m.error.reason.length, 0)
    }
    assert.match(malformed[3]!.error.reason, /^data\.0001: /)
  })

  it("unnestReadings keeps the map's order", () => {
    const m = { equip_id: 1, timestamp: 0, data: { b: 2, a: null, c: 3 } } satisfies SensorMessage
    assert.deepStrictEqual(unnestReadings(m), {
      readings: [{ sensor: "b", value: 2 }, { sensor: "c", value: 3 }],
      nulls: 1
    })
  })
})

describe("FingerprintConfig", () => {
  it("parses id lists and ranges, keeping zero padding", () => {
    assert.deepStrictEqual(parseIdList("110-114"), ["110", "111", "112", "113", "114"])
    assert.deepStrictEqual(parseIdList("0001-0003, 0010"), ["0001", "0002", "0003", "0010"])
    assert.deepStrictEqual(parseIdList("KILN_A,KILN_B"), ["KILN_A", "KILN_B"])
    assert.deepStrictEqual(parseTypeMap("110=kiln, 111 = dryer"), { "110": "kiln", "111": "dryer" })
  })

  it.effect("defaults follow the seed's table", () =>
    Effect.gen(function*() {
      const s = yield* settingsFrom({})
      assert.strictEqual(s.topic, "sensor-data")
      assert.strictEqual(s.outputTopic, "fingerprint-output")
      assert.strictEqual(s.windowSizeMs, 60_000)
      assert.strictEqual(s.outOfOrdernessMs, 10_000)
      assert.deepStrictEqual(s.equipmentIds, ["110", "111", "112", "113", "114"])
      assert.deepStrictEqual(s.sensorIds, ["0001", "0002", "0003", "0004", "0005"])
      assert.deepStrictEqual(s.equipmentTypes, {})
      assert.strictEqual(s.defaultEquipmentType, "kiln")
      assert.strictEqual(s.parallelism, 2)
      assert.strictEqual(s.transactionalId, "tributary-fingerprint.sensor-data")
      assert.strictEqual(s.deadLetters.policy, "dead-letter")
    }))

  it.effect("reads overrides and rejects bad values", () =>
    Effect.gen(function*() {
      const s = yield* settingsFrom({
        WINDOW_SIZE_MINUTES: "5",
        WATERMARK_SECONDS: "2.5",
        EQUIPMENT_IDS: "7,9",
        EQUIPMENT_TYPES: "7=dryer",
        FINGERPRINT_GROUP_ID: "g",
        PARALLELISM: "4"
      })
      assert.strictEqual(s.windowSizeMs, 300_000)
      assert.strictEqual(s.outOfOrdernessMs, 2_500)
      assert.deepStrictEqual(s.equipmentIds, ["7", "9"])
      assert.deepStrictEqual(s.equipmentTypes, { "7": "dryer" })
      assert.strictEqual(s.transactionalId, "g.sensor-data")
      assert.strictEqual(s.parallelism, 4)
      for (
        const env of [{ WINDOW_SIZE_MINUTES: "0" }, { EQUIPMENT_TYPES: "110" }, { EQUIPMENT_IDS: "1 2" }, {
          PARALLELISM: "x"
        }]
      ) {
        const error = yield* Effect.flip(settingsFrom(env))
        assert.strictEqual(error._tag, "ConfigError")
      }
    }))
})

describe("SensorSimulator", () => {
  const options = {
    equipmentIds: ["110", "111", "112", "113", "114"],
    sensorIds: ["0001", "0002", "0003", "0004", "0005"]
  }

  it("sends one message per equipment per round, keyed by equip_id, seeded, with some nulls", () => {
    const a = new SensorSimulator({ seed: 3, ...options })
    const b = new SensorSimulator({ seed: 3, ...options })
    const rounds = Array.from({ length: 200 }, (_, i) => a.round(1_000 * i))
    assert.deepStrictEqual(rounds, Array.from({ length: 200 }, (_, i) => b.round(1_000 * i)), "same seed, same data")
    let nulls = 0
    let values = 0
    for (const round of rounds) {
      assert.deepStrictEqual(round.map((r) => r.key), options.equipmentIds)
      for (const r of round) {
        const m = JSON.parse(r.value)
        assert.strictEqual(String(m.equip_id), r.key)
        assert.strictEqual(typeof m.equip_id, "number")
        assert.deepStrictEqual(Object.keys(m.data), options.sensorIds)
        for (const v of Object.values(m.data) as Array<string>) {
          if (v === "null") nulls++
          else {
            values++
            assert.match(v, /^\d{1,3}\.\d{3}$/)
            assert.isAtLeast(Number(v), 0)
            assert.isAtMost(Number(v), 100)
          }
        }
      }
    }
    const share = nulls / (nulls + values)
    assert.isAbove(share, 0.1)
    assert.isBelow(share, 0.2)
  })

  it("jitter moves event times back by at most jitterMs; malformed share is honoured", () => {
    const sim = new SensorSimulator({ seed: 1, ...options, jitterMs: 8_000, malformedShare: 0.1 })
    const records = sim.batch(2_000, 100_000)
    const decoded = decodeSensorEvents({ nulls: 0 })(records.map((r, i) => record(r.value, i)))
    assert.strictEqual(decoded.malformed.length, records.filter((r) => r.malformed).length)
    assert.isAbove(decoded.malformed.length, 100)
    for (const v of decoded.valid) {
      assert.isAtMost(v.value.timestamp, 100_000)
      assert.isAtLeast(v.value.timestamp, 92_000)
    }
  })
})
