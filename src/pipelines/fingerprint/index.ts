import { Effect } from "effect"
import { fingerprintSettings } from "../../config/FingerprintConfig.ts"
import { publishAtRate } from "../../simulator/Publisher.ts"
import { SensorSimulator } from "../../simulator/SensorSimulator.ts"
import type { PipelineDefinition } from "../PipelineDefinition.ts"
import { ensureFingerprintTopics, runFingerprintPipeline } from "./FingerprintPipeline.ts"

export { runFingerprintPipeline } from "./FingerprintPipeline.ts"
export { saveFingerprints, type SaveFingerprintsOptions } from "./FingerprintSaver.ts"

export const fingerprintPipeline: PipelineDefinition = {
  name: "fingerprint",
  input: "sensors",
  description:
    "Sensor messages → per equipment and 1-minute window, per sensor min/max/median/mean/std_dev → fingerprint JSON on Kafka, exactly once (seed 003)",
  sourceTopics: Effect.map(fingerprintSettings, (s) => [s.topic]),
  run: Effect.flatMap(fingerprintSettings, runFingerprintPipeline),
  /**
   * `simulate sensors`: one message per equipment every 1/rate seconds (default: every second), values
   * 0–100 with ~15% `"null"`, seeded, keyed by equip_id. `count` counts messages.
   */
  simulate: (sim) =>
    Effect.gen(function*() {
      const settings = yield* fingerprintSettings
      const simulator = new SensorSimulator({
        seed: sim.seed,
        equipmentIds: settings.equipmentIds,
        sensorIds: settings.sensorIds,
        malformedShare: sim.malformedShare
      })
      return yield* publishAtRate({
        ratePerSecond: sim.ratePerSecond * settings.equipmentIds.length,
        count: sim.count,
        make: (n, now) => simulator.batch(n, now).map((r) => ({ topic: settings.topic, key: r.key, value: r.value }))
      })
    }),
  setup: Effect.flatMap(fingerprintSettings, ensureFingerprintTopics)
}
