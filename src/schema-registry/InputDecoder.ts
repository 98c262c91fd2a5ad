import type avro from "avsc"
import { Effect, type Schema, type Scope } from "effect"
import type { InputSettings } from "../config/SchemaRegistryConfig.ts"
import type { KafkaRecord } from "../kafka/KafkaRecord.ts"
import { type Decoded, jsonBatchDecoder } from "../runner/BatchDecoder.ts"
import { confluentAvroDecoder } from "./ConfluentAvroDecoder.ts"
import { makeSchemaRegistryClient } from "./SchemaRegistryClient.ts"
import type { SchemaRegistryError } from "./SchemaRegistryError.ts"

/** The decoding fields of a job (`decode`, and `resolveSchemas` for registry input): spread into it. */
export interface InputDecoding<A> {
  readonly decode: (records: ReadonlyArray<KafkaRecord>) => Decoded<A>
  readonly resolveSchemas?:
    | ((records: ReadonlyArray<KafkaRecord>) => Effect.Effect<void, SchemaRegistryError>)
    | undefined
}

/**
 * The decoder INPUT_FORMAT asks for, validating with `schema` either way: JSON, or Confluent-framed
 * Avro with schemas from the registry (resolved against `readerSchema` when given). The registry
 * client lives as long as the scope (the job's).
 */
export const inputDecoding = <S extends Schema.Decoder<unknown>>(
  input: InputSettings,
  schema: S,
  options: { readonly readerSchema?: avro.Schema | undefined } = {}
): Effect.Effect<InputDecoding<S["Type"]>, never, Scope.Scope> =>
  input.format === "json"
    ? Effect.succeed({ decode: jsonBatchDecoder(schema) })
    : Effect.map(
      makeSchemaRegistryClient(input.registry),
      (registry) => confluentAvroDecoder(registry, schema, options)
    )

/** The same decoding with each valid value mapped (a pipeline's unnesting or normalising after validation). */
export const mapDecoding = <A, B>(
  decoding: InputDecoding<A>,
  f: (decoded: Decoded<A>) => Decoded<B>
): InputDecoding<B> => ({
  decode: (records) => f(decoding.decode(records)),
  resolveSchemas: decoding.resolveSchemas
})
