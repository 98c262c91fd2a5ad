import avro from "avsc"
import { Clock, Effect, Option, Result, Schema } from "effect"
import { describeIssue } from "../domain/MalformedRecord.ts"
import type { KafkaRecord } from "../kafka/KafkaRecord.ts"
import { type Decoded, decodeEach } from "../runner/BatchDecoder.ts"
import { frameSchemaId, parseFrame } from "./ConfluentWireFormat.ts"
import type { RegisteredSchema, SchemaRegistryClient } from "./SchemaRegistryClient.ts"
import type { SchemaRegistryError } from "./SchemaRegistryError.ts"

/**
 * A batch decoder whose records need something looked up first. `resolveSchemas` runs once per batch
 * (the runner calls it before `decode`) and may wait for the registry; `decode` stays a plain loop.
 */
export interface RegistryBatchDecoder<A> {
  readonly resolveSchemas: (records: ReadonlyArray<KafkaRecord>) => Effect.Effect<void, SchemaRegistryError>
  readonly decode: (records: ReadonlyArray<KafkaRecord>) => Decoded<A>
}

export interface ConfluentAvroOptions {
  /**
   * The record shape the pipeline expects, as an Avro schema: each writer schema is resolved against
   * it (Avro schema resolution: renamed fields by alias, defaults for missing ones, promoted numbers).
   * Without it values are read with the writer schema as they are.
   */
  readonly readerSchema?: avro.Schema | undefined
}

/**
 * What a schema id turned into: a reader of payloads, or why records with this id are bad. An id the
 * registry does not know is asked again after `unknownIdRecheckMs` (it may be registered later).
 */
type Reader =
  | { readonly read: (payload: Buffer) => unknown }
  | { readonly problem: string; readonly recheckAfter?: number | undefined }

const unknownIdRecheckMs = 10_000

/**
 * Decodes Avro values in the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary),
 * with writer schemas from a Confluent-compatible registry; each Avro value then goes through the
 * same Effect `Schema` as JSON input, so validation stays in one place. A wrong magic byte, a short
 * frame, an id the registry does not know and a payload that is not Avro of that schema are the
 * record's fault: `malformed`, with the reason. A registry that cannot answer is not: `resolveSchemas`
 * retries it and the batch waits.
 */
export const confluentAvroDecoder = <S extends Schema.Decoder<unknown>>(
  registry: SchemaRegistryClient,
  schema: S,
  options: ConfluentAvroOptions = {}
): RegistryBatchDecoder<S["Type"]> => {
  const validate = Schema.decodeUnknownResult(schema)
  const reader = options.readerSchema === undefined ? undefined : avro.Type.forSchema(options.readerSchema)
  /** Per schema id, for the process's life: compiling a type and its resolver is costly. */
  const readers = new Map<number, Reader>()

  const compile = (registered: Option.Option<RegisteredSchema>, id: number, now: number): Reader => {
    if (Option.isNone(registered)) {
      return {
        problem: `unknown schema id ${id}: the registry has no such schema`,
        recheckAfter: now + unknownIdRecheckMs
      }
    }
    const { schema: text, schemaType } = registered.value
    if (schemaType.toUpperCase() !== "AVRO") {
      return { problem: `schema id ${id} is a ${schemaType} schema; INPUT_FORMAT=confluent-avro reads Avro only` }
    }
    let writer: avro.Type
    try {
      writer = avro.Type.forSchema(JSON.parse(text) as avro.Schema)
    } catch (error) {
      return { problem: `schema id ${id} is not an Avro schema this decoder can read: ${(error as Error).message}` }
    }
    if (reader === undefined) return { read: (payload) => writer.fromBuffer(payload) }
    try {
      const resolver = reader.createResolver(writer)
      return { read: (payload) => reader.fromBuffer(payload, resolver) }
    } catch (error) {
      return { problem: `schema id ${id} cannot be read as the expected record: ${(error as Error).message}` }
    }
  }

  const resolveSchemas = (records: ReadonlyArray<KafkaRecord>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      // The distinct ids of the batch that are not known yet: usually none, so no Effect per record.
      const missing = new Set<number>()
      for (const record of records) {
        const id = frameSchemaId(record.value)
        if (id === undefined) continue
        const known = readers.get(id)
        if (known === undefined || ("recheckAfter" in known && known.recheckAfter! <= now)) missing.add(id)
      }
      if (missing.size === 0) return Effect.void
      return Effect.forEach(
        missing,
        (id) => Effect.map(registry.schemaById(id), (registered) => readers.set(id, compile(registered, id, now))),
        { concurrency: 8, discard: true }
      )
    })

  const decode = (records: ReadonlyArray<KafkaRecord>): Decoded<S["Type"]> =>
    decodeEach<S["Type"]>(records, (record, valid) => {
      const frame = parseFrame(record.value)
      if (frame._tag === "NotFramed") return frame.reason
      const entry = readers.get(frame.schemaId)
      if (entry === undefined) {
        // resolveSchemas saw every id of these records: reaching here is a wiring bug, not bad data.
        throw new Error(`schema id ${frame.schemaId} was not resolved before decoding (resolveSchemas not called?)`)
      }
      if ("problem" in entry) return entry.problem
      let value: unknown
      try {
        value = entry.read(frame.payload)
      } catch (error) {
        return `not Avro of schema id ${frame.schemaId}: ${(error as Error).message}`
      }
      const result = validate(value)
      if (Result.isSuccess(result)) {
        valid.push({ record, value: result.success })
        return undefined
      }
      return describeIssue(result.failure)
    })

  return { resolveSchemas, decode }
}
