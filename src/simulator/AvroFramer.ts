import avro from "avsc"
import { Effect } from "effect"
import type { OutgoingRecord } from "../kafka/KafkaRecord.ts"
import { frame } from "../schema-registry/ConfluentWireFormat.ts"
import type { SchemaRegistryClient } from "../schema-registry/SchemaRegistryClient.ts"
import type { SchemaRegistryError } from "../schema-registry/SchemaRegistryError.ts"

/** Avro names: letters, digits and `_`, not starting with a digit. */
const avroName = (s: string): string => {
  const cleaned = s.replace(/[^A-Za-z0-9_]/g, "_")
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `_${cleaned}`
}

/**
 * The Avro schema of one JSON value, as a producer with that record would declare it: integers are
 * `long`, other numbers `double` (never `float`: amounts must come back as they went in), objects
 * named records. Undefined for values Avro cannot hold as they are (an empty array, mixed items).
 */
export const avroSchemaOf = (value: unknown, name: string): avro.Schema | undefined => {
  if (value === null) return "null"
  switch (typeof value) {
    case "string":
      return "string"
    case "boolean":
      return "boolean"
    case "number":
      return Number.isSafeInteger(value) ? "long" : "double"
    case "object": {
      if (Array.isArray(value)) {
        const items = value.map((v) => avroSchemaOf(v, `${name}_item`))
        const first = items[0]
        if (first === undefined || items.some((i) => JSON.stringify(i) !== JSON.stringify(first))) return undefined
        return { type: "array", items: first }
      }
      const fields: Array<{ name: string; type: avro.Schema }> = []
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        const type = avroSchemaOf(v, `${name}_${avroName(key)}`)
        // Avro field names are restricted; a key outside them is kept out of Avro input.
        if (type === undefined || avroName(key) !== key) return undefined
        fields.push({ name: key, type })
      }
      return { type: "record", name, fields }
    }
    default:
      return undefined
  }
}

/**
 * Turns a simulator's JSON records into Confluent-framed Avro for `<topic>-value`: each record shape
 * is registered once (the registry returns the same id for the same schema), then framed. Values that
 * are not JSON, or JSON that Avro cannot hold, are the simulator's malformed records: they are sent
 * unframed, as a producer without a serializer would, and the pipeline dead-letters them.
 */
export const makeAvroFramer = (registry: SchemaRegistryClient, topic: string) => {
  const subject = `${topic}-value`
  const recordName = avroName(topic)
  const types = new Map<string, { readonly id: number; readonly type: avro.Type }>()

  const frameOne = (record: OutgoingRecord): Effect.Effect<OutgoingRecord, SchemaRegistryError> => {
    if (record.value === null) return Effect.succeed(record)
    let json: unknown
    try {
      json = JSON.parse(record.value.toString())
    } catch {
      return Effect.succeed(record)
    }
    const schema = avroSchemaOf(json, recordName)
    if (schema === undefined || typeof schema === "string") return Effect.succeed(record)
    const text = JSON.stringify(schema)
    const known = types.get(text)
    const typed = known !== undefined ? Effect.succeed(known) : Effect.map(registry.register(subject, text), (id) => {
      const entry = { id, type: avro.Type.forSchema(schema) }
      types.set(text, entry)
      return entry
    })
    return Effect.map(typed, ({ id, type }) => ({ ...record, value: frame(id, type.toBuffer(json)) }))
  }

  return (records: ReadonlyArray<OutgoingRecord>) => Effect.forEach(records, frameOne)
}
