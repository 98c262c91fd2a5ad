import { Result, Schema, type SchemaAST } from "effect"
import { isUtf8 } from "node:buffer"
import { describeIssue, MalformedRecord } from "../domain/MalformedRecord.ts"
import type { KafkaRecord } from "../kafka/KafkaRecord.ts"

export interface Decoded<A> {
  readonly valid: Array<{ readonly record: KafkaRecord; readonly value: A }>
  readonly malformed: Array<{ readonly record: KafkaRecord; readonly error: MalformedRecord }>
}

/**
 * Builds a batch decoder for JSON record values: one pass, no Effect per record. Each record ends up in
 * exactly one of `valid` or `malformed`, the latter with a reason naming the field.
 *
 * Validation goes through `compileStruct` when the schema allows it (a flat struct of strings,
 * numbers and booleans with filters): valid records never enter Schema's general interpreter. A
 * record it refuses is decoded again by `Schema.decodeUnknownResult`, which gives the reason, so
 * the outcome is always the Schema's own.
 */
export const jsonBatchDecoder = <S extends Schema.Decoder<unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema)
  const fast = compileStruct(schema.ast)
  return (records: ReadonlyArray<KafkaRecord>): Decoded<S["Type"]> =>
    decodeEach(records, (record, valid) => decodeOne(record, decode, fast, valid))
}

/**
 * One pass over a batch: `decodeRecord` pushes a record's value onto `valid`, or returns why the record
 * is malformed. Every record ends up in exactly one of the two (shared by the input formats).
 */
export const decodeEach = <A>(
  records: ReadonlyArray<KafkaRecord>,
  decodeRecord: (record: KafkaRecord, valid: Decoded<A>["valid"]) => string | undefined
): Decoded<A> => {
  const valid: Decoded<A>["valid"] = []
  const malformed: Decoded<A>["malformed"] = []
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    const reason = decodeRecord(record, valid)
    if (reason !== undefined) {
      const { offset, partition, topic } = record
      malformed.push({ record, error: new MalformedRecord({ topic, partition, offset, reason }) })
    }
  }
  return { valid, malformed }
}

/** Pushes the decoded value onto `valid`, or returns why the record is malformed. */
const decodeOne = <A>(
  record: KafkaRecord,
  decode: (u: unknown) => Result.Result<A, Schema.SchemaError>,
  fast: ((u: unknown) => unknown) | undefined,
  valid: Decoded<A>["valid"]
): string | undefined => {
  if (record.value === null) return "empty value (tombstone)"
  // Decoding would replace bad bytes silently: two different ids could become the same key.
  if (!isUtf8(record.value)) return "value is not valid UTF-8"
  let json: unknown
  try {
    json = JSON.parse(record.value.toString("utf8"))
  } catch (error) {
    return `not JSON: ${(error as Error).message}`
  }
  const value = fast === undefined ? undefined : fast(json)
  if (value !== undefined) {
    valid.push({ record, value: value as A })
    return undefined
  }
  const result = decode(json)
  if (Result.isSuccess(result)) {
    valid.push({ record, value: result.success })
    return undefined
  }
  return describeIssue(result.failure)
}

// ---------------------------------------------------------------------------------------------
// a validator compiled from the Schema's AST

const noOptions: SchemaAST.ParseOptions = {}

const typeGuards: Record<string, ((u: unknown) => boolean) | undefined> = {
  String: (u) => typeof u === "string",
  Number: (u) => typeof u === "number",
  Boolean: (u) => typeof u === "boolean"
}

/** The filters of a check list, groups flattened; undefined if there is anything else. */
const filtersOf = (checks: ReadonlyArray<SchemaAST.Check<any>> | undefined): Array<SchemaAST.Filter<any>> => {
  const out: Array<SchemaAST.Filter<any>> = []
  const visit = (c: SchemaAST.Check<any>) => {
    if (c._tag === "Filter") out.push(c)
    else c.checks.forEach(visit)
  }
  checks?.forEach(visit)
  return out
}

interface CompiledProperty {
  readonly name: string
  readonly guard: (u: unknown) => boolean
  readonly type: SchemaAST.AST
  readonly filters: ReadonlyArray<SchemaAST.Filter<any>>
}

/**
 * For a struct whose keys are all required and whose values are `String`, `Number` or `Boolean` with
 * filters (no transformation, no struct-level check, no index signature): a function that returns
 * the decoded value (the declared keys, in declared order) when the input passes the same type
 * tests and the Schema's own filters, and undefined otherwise — for the Schema to say why. For any
 * other schema, undefined: the Schema's interpreter does all the work.
 */
export const compileStruct = (ast: SchemaAST.AST): ((input: unknown) => unknown) | undefined => {
  if (ast._tag !== "Objects") return undefined
  if (ast.indexSignatures.length > 0 || ast.checks !== undefined || ast.encoding !== undefined) return undefined
  const properties: Array<CompiledProperty> = []
  for (const ps of ast.propertySignatures) {
    const type = ps.type
    const guard = typeGuards[type._tag]
    // "__proto__" would set the output's prototype when assigned: left to the Schema.
    if (typeof ps.name !== "string" || ps.name === "__proto__" || guard === undefined) return undefined
    if (type.encoding !== undefined || type.context !== undefined) return undefined
    properties.push({ name: ps.name, guard, type, filters: filtersOf(type.checks) })
  }
  return (input) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return undefined
    const source = input as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (let i = 0; i < properties.length; i++) {
      const p = properties[i]!
      if (!Object.hasOwn(source, p.name)) return undefined
      const v = source[p.name]
      if (!p.guard(v)) return undefined
      for (let j = 0; j < p.filters.length; j++) {
        if (p.filters[j]!.run(v, p.type, noOptions) !== undefined) return undefined
      }
      out[p.name] = v
    }
    return out
  }
}
