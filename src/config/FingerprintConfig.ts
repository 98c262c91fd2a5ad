import { Config, Option, Schema } from "effect"
import { sourceSettings } from "./PipelineConfig.ts"

/**
 * A list of ids: comma-separated items, each an id or an inclusive numeric range `a-b`. A range keeps
 * the zero padding of its bounds: `0001-0003` is `0001, 0002, 0003`; `110-112` is `110, 111, 112`.
 */
export const parseIdList = (text: string): Array<string> =>
  text.split(",").map((s) => s.trim()).filter((s) => s.length > 0).flatMap((item) => {
    const range = /^(\d+)-(\d+)$/.exec(item)
    if (range === null) return [item]
    const [, from = "", to = ""] = range
    const width = from.length === to.length ? from.length : 0
    const ids: Array<string> = []
    for (let n = Number(from); n <= Number(to); n++) ids.push(String(n).padStart(width, "0"))
    return ids
  })

/** `110=kiln,111=dryer` → { "110": "kiln", "111": "dryer" }. */
export const parseTypeMap = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const pair of text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const at = pair.indexOf("=")
    out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim()
  }
  return out
}

const idItem = String.raw`[A-Za-z0-9_.:-]+`
const idList = (name: string, fallback: string) =>
  Config.schema(
    Schema.String.check(Schema.isPattern(new RegExp(`^\\s*${idItem}(\\s*,\\s*${idItem})*\\s*$`), {
      message: "Expected comma-separated ids or ranges such as 110-114"
    })),
    name
  ).pipe(Config.withDefault(fallback), Config.map(parseIdList))

const typeItem = String.raw`\s*[^=,\s]+\s*=\s*[^=,\s]+\s*`
const typeMap = Config.schema(
  Schema.String.check(Schema.isPattern(new RegExp(`^(${typeItem}(,${typeItem})*)?$`), {
    message: "Expected equipment=type pairs such as 110=kiln,111=dryer"
  })),
  "EQUIPMENT_TYPES"
).pipe(Config.withDefault(""), Config.map(parseTypeMap))

const positiveInt = (name: string, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isGreaterThan(0)), name).pipe(Config.withDefault(fallback))

/**
 * The `fingerprint` pipeline (seed 003), with the names of the seed's configuration table.
 * - WINDOW_SIZE_MINUTES, WATERMARK_SECONDS: 1-minute tumbling event-time windows, 10 s out-of-orderness.
 * - WATERMARK_IDLE_SECONDS: a partition with no records for this long stops holding the watermark back
 *   (an empty partition would otherwise stop every window from closing).
 * - EQUIPMENT_IDS, SENSOR_IDS: what `simulate sensors` generates (the pipeline accepts any ids).
 * - EQUIPMENT_TYPES: the fingerprint's `type` per equipment; others get DEFAULT_EQUIPMENT_TYPE (kiln).
 * - PARALLELISM: partitions consumed concurrently (the seed's Flink parallelism).
 * - FINGERPRINT_TRANSACTIONAL_ID: the Kafka transactional id; default `<group id>.<input topic>`, stable
 *   across restarts so a restarted process fences its predecessor (see FingerprintPipeline.ts).
 */
export const fingerprintSettings = Config.all({
  ...sourceSettings(["SENSOR_TOPIC", "sensor-data"], ["FINGERPRINT_GROUP_ID", "tributary-fingerprint"]),
  outputTopic: Config.String("FINGERPRINT_TOPIC").pipe(Config.withDefault("fingerprint-output")),
  windowSizeMinutes: positiveInt("WINDOW_SIZE_MINUTES", 1),
  watermarkSeconds: Config.schema(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), "WATERMARK_SECONDS").pipe(
    Config.withDefault(10)
  ),
  idleSeconds: Config.schema(Schema.Finite.check(Schema.isGreaterThan(0)), "WATERMARK_IDLE_SECONDS").pipe(
    Config.withDefault(30)
  ),
  equipmentIds: idList("EQUIPMENT_IDS", "110-114"),
  sensorIds: idList("SENSOR_IDS", "0001-0005"),
  equipmentTypes: typeMap,
  defaultEquipmentType: Config.String("DEFAULT_EQUIPMENT_TYPE").pipe(Config.withDefault("kiln")),
  parallelism: positiveInt("PARALLELISM", 2),
  transactionalId: Config.option(Config.String("FINGERPRINT_TRANSACTIONAL_ID"))
}).pipe(Config.map(({ transactionalId, ...s }) =>
  Object.assign(s, {
    windowSizeMs: s.windowSizeMinutes * 60_000,
    outOfOrdernessMs: Math.round(s.watermarkSeconds * 1_000),
    idleTimeoutMs: Math.round(s.idleSeconds * 1_000),
    transactionalId: Option.getOrElse(transactionalId, () => `${s.groupId}.${s.topic}`)
  })
))
export type FingerprintSettings = Config.Success<typeof fingerprintSettings>

/** The `type` of an equipment's fingerprints. */
export const equipmentType = (
  settings: Pick<FingerprintSettings, "equipmentTypes" | "defaultEquipmentType">,
  equipId: string
) => settings.equipmentTypes[equipId] ?? settings.defaultEquipmentType
