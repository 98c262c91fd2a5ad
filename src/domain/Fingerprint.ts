import { Schema } from "effect"
import { NAMESPACE_URL, uuidV5 } from "../shared/NameBasedUuid.ts"

/**
 * Statistics of one sensor over one window. `std_dev` is the POPULATION standard deviation (divisor n),
 * as the seed computes it (`statistics.pstdev`), so a single reading has `std_dev` 0.
 */
export const SensorStats = Schema.Struct({
  min: Schema.Finite,
  max: Schema.Finite,
  median: Schema.Finite,
  mean: Schema.Finite,
  std_dev: Schema.Finite
})
export type SensorStats = typeof SensorStats.Type

/** The seed's fingerprint: one per equipment and window, statistics per sensor that had readings. */
export const Fingerprint = Schema.Struct({
  uuid: Schema.String,
  equip_id: Schema.String,
  type: Schema.String,
  start_ms: Schema.Int,
  end_ms: Schema.Int,
  data: Schema.Record(Schema.String, SensorStats)
})
export type Fingerprint = typeof Fingerprint.Type

/** The record value on `fingerprint-output`: `{"fingerprint": {...}}`. */
export const FingerprintMessage = Schema.Struct({ fingerprint: Fingerprint })
export type FingerprintMessage = typeof FingerprintMessage.Type

/** Namespace of fingerprint ids: UUID v5 of this URL in the RFC 4122 URL namespace. */
export const FINGERPRINT_NAMESPACE = uuidV5(NAMESPACE_URL, "urn:tributary:fingerprint")

/**
 * The fingerprint id: a name-based UUID (v5) of `(equip_id, start_ms)`, so a replayed window gets the
 * same id (the seed draws a random uuid4, which a replay would change).
 */
export const fingerprintId = (equipId: string, startMs: number): string =>
  uuidV5(FINGERPRINT_NAMESPACE, `${equipId}/${startMs}`)

/**
 * Builds the fingerprint with keys in the seed's order (uuid, equip_id, type, start_ms, end_ms, data;
 * per sensor min, max, median, mean, std_dev), sensors sorted by id.
 */
export const makeFingerprint = (options: {
  readonly equipId: string
  readonly type: string
  readonly startMs: number
  readonly endMs: number
  readonly data: Readonly<Record<string, SensorStats>>
}): FingerprintMessage => {
  const data: Record<string, SensorStats> = {}
  for (const sensor of Object.keys(options.data).sort()) {
    const s = options.data[sensor]!
    data[sensor] = { min: s.min, max: s.max, median: s.median, mean: s.mean, std_dev: s.std_dev }
  }
  return {
    fingerprint: {
      uuid: fingerprintId(options.equipId, options.startMs),
      equip_id: options.equipId,
      type: options.type,
      start_ms: options.startMs,
      end_ms: options.endMs,
      data
    }
  }
}

/** File name the saver writes for a fingerprint: `{fingerprint_id}_{start_ms}_{end_ms}.json`. */
export const fingerprintFileName = (f: Fingerprint): string => `${f.uuid}_${f.start_ms}_${f.end_ms}.json`
