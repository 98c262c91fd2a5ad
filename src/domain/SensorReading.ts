import { Schema, SchemaTransformation } from "effect"
import { NonEmptyText } from "./Text.ts"

/** `"null"` (the seed's marker for a missing reading) decodes to `null`. */
const NullMarker = Schema.Literal("null").pipe(
  Schema.decodeTo(Schema.Null, SchemaTransformation.transform({ decode: () => null, encode: () => "null" as const }))
)

/** A decimal number written as a string (`"45.234"`, `"-1e3"`); no empty strings, hex or `Infinity`. */
const DecimalString = Schema.String.check(
  Schema.isPattern(/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/, { message: "Expected a decimal number or \"null\"" })
).pipe(Schema.decodeTo(Schema.Finite, SchemaTransformation.numberFromString))

/**
 * One sensor value: a decimal string as in the seed's README, a JSON number as its generator sends,
 * or a missing reading (`"null"` or JSON `null`) which decodes to `null`. Anything else is malformed.
 */
export const SensorValue = Schema.Union([Schema.Finite, Schema.Null, NullMarker, DecimalString])
export type SensorValue = typeof SensorValue.Type

/** A message on `sensor-data` (seed 003): `{"equip_id": 110, "timestamp": <epoch ms>, "data": {"0001": "45.234", …}}`. */
export const SensorMessage = Schema.Struct({
  /**
   * A number in the seed's generator, a machine name in its later data; keyed as a string either way
   * (the Kafka key and the fingerprint's name-based uuid are its UTF-8 bytes: no lone surrogates).
   */
  equip_id: Schema.Union([Schema.Int, NonEmptyText]),
  /** Event time, epoch milliseconds. */
  timestamp: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Sensor ids with a UTF-8 form (a key schema would drop the others silently, so the whole map is checked). */
  data: Schema.Record(Schema.String, SensorValue).check(
    Schema.makeFilter((data: Readonly<Record<string, unknown>>) =>
      Object.keys(data).every((sensor) => sensor.isWellFormed()) ||
      "Expected sensor ids without lone UTF-16 surrogates (they have no UTF-8 form)"
    )
  )
})
export type SensorMessage = typeof SensorMessage.Type

/** One non-null reading of one sensor. */
export interface SensorReading {
  readonly sensor: string
  readonly value: number
}

export interface Unnested {
  /** The message's non-null readings, in the order of its `data` keys. */
  readonly readings: Array<SensorReading>
  /** Readings that were `"null"` or `null`: filtered out, never part of a statistic. */
  readonly nulls: number
}

/** Unnests a message's sensor map into readings, dropping (and counting) the missing ones. */
export const unnestReadings = (message: SensorMessage): Unnested => {
  const readings: Array<SensorReading> = []
  let nulls = 0
  for (const sensor in message.data) {
    const value = message.data[sensor]
    if (value === null || value === undefined) nulls++
    else readings.push({ sensor, value })
  }
  return { readings, nulls }
}

/** The key of an equipment everywhere downstream (window key, fingerprint `equip_id`, Kafka key). */
export const equipmentKey = (message: SensorMessage): string => String(message.equip_id)
