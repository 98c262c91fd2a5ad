import * as Malformed from "./Malformed.ts"
import { SeededRandom } from "./SeededRandom.ts"
import { type SimulatedRecord, simulatedRecord } from "./SimulatedRecord.ts"

export interface SensorSimulatorOptions {
  readonly seed: number
  readonly equipmentIds: ReadonlyArray<string>
  readonly sensorIds: ReadonlyArray<string>
  /** Share of readings sent as `"null"` (the seed's generator: 0.15). */
  readonly nullShare?: number | undefined
  /** Share of messages that are malformed on purpose (dead-letter path). */
  readonly malformedShare?: number | undefined
  /** Event times are `now - uniform(0, jitterMs)`: out-of-order input within this bound. Default 0. */
  readonly jitterMs?: number | undefined
}

/** The wire form of a sensor message, as the seed's README shows it (values as decimal strings). */
export interface SensorMessageJson {
  readonly equip_id: number | string
  readonly timestamp: number
  readonly data: Record<string, string>
}

const malformedKinds: ReadonlyArray<Malformed.Kind<SensorMessageJson>> = [
  () => "{\"equip_id\": ",
  (m) => JSON.stringify({ ...m, timestamp: new Date(m.timestamp).toISOString() }),
  (m) => JSON.stringify({ ...m, data: { ...m.data, "0001": "n/a" } }),
  Malformed.withoutField("equip_id"),
  (m) => JSON.stringify({ ...m, data: [m.data] })
]

/**
 * The seed's sensor generator: every equipment sends one message per round with a value 0–100 (three
 * decimals) per sensor, some `"null"`. Deterministic for a seed, so tests can compute the expected
 * fingerprints. Equipment ids that are integers are sent as JSON numbers (`"equip_id": 110`); records
 * are keyed by equip_id, so an equipment stays on one partition.
 */
export class SensorSimulator {
  private readonly random: SeededRandom
  private readonly options: SensorSimulatorOptions
  private nextEquipment = 0

  constructor(options: SensorSimulatorOptions) {
    if (options.equipmentIds.length === 0) throw new RangeError("SensorSimulator needs at least one equipment id")
    this.options = options
    this.random = new SeededRandom(options.seed)
  }

  /** One message of `equipId` at `eventTime` (no jitter). */
  message(equipId: string, eventTime: number): SensorMessageJson {
    const nullShare = this.options.nullShare ?? 0.15
    const data: Record<string, string> = {}
    for (const sensor of this.options.sensorIds) {
      data[sensor] = this.random.chance(nullShare) ? "null" : (this.random.next() * 100).toFixed(3)
    }
    return { equip_id: /^\d+$/.test(equipId) ? Number(equipId) : equipId, timestamp: eventTime, data }
  }

  /** The next equipment's message (round-robin) at `nowMs` minus jitter. */
  next(nowMs: number): SimulatedRecord {
    const equipId = this.options.equipmentIds[this.nextEquipment]!
    this.nextEquipment = (this.nextEquipment + 1) % this.options.equipmentIds.length
    const jitter = this.options.jitterMs ?? 0
    const eventTime = jitter > 0 ? nowMs - Math.floor(this.random.next() * (jitter + 1)) : nowMs
    const message = this.message(equipId, eventTime)
    return simulatedRecord(this.random, equipId, message, this.options.malformedShare ?? 0, malformedKinds)
  }

  batch(count: number, nowMs: number): Array<SimulatedRecord> {
    return Array.from({ length: count }, () => this.next(nowMs))
  }

  /** One message per equipment at `nowMs` (before jitter); if a round was started by `next`, its rest. */
  round(nowMs: number): Array<SimulatedRecord> {
    return this.batch(this.options.equipmentIds.length - this.nextEquipment, nowMs)
  }
}
