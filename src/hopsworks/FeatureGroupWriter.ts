import avro from "avsc"
import { Schema } from "effect"
import type { OutgoingRecord } from "../kafka/KafkaRecord.ts"
import type { AvroField, AvroSchema } from "./AvroSchemaBuilder.ts"
import type { ResolvedFeatureGroup } from "./HopsworksClient.ts"

/**
 * Turns feature rows into the Kafka records Hopsworks consumes (protocol page §4.4, §5):
 *
 * - value: plain Avro binary (no magic byte / schema id) of the row against the ENCODED schema, i.e.
 *   the subject schema with every complex field (array/map/struct) replaced by `["null","bytes"]`;
 *   a complex value is first encoded on its own with the field's full union type, and those bytes go
 *   in the `bytes` branch (a null complex value is encoded too: the single byte 0x00, as fastavro does);
 * - key: primary-key values `toString()`-ed in feature-list order, joined with ";" (Java clients);
 * - headers: `projectId` (feature store owner), `featureGroupId`, `subjectId`, and `onlineIngestionId`
 *   when given, each a decimal UTF-8 string;
 * - topic: the feature group's `onlineTopicName`.
 *
 * Fields are taken from each row BY NAME (extra row fields are ignored, missing ones are null). The
 * encoder is built once per feature group; `encode` is a plain loop with no Effect per row.
 *
 * Accepted JS values per Avro type: `long` number (safe integer) or bigint; `int`/`float`/`double`
 * number; `string`; `bytes` Buffer/Uint8Array; `boolean`; `timestamp-micros` Date, bigint (micros) or
 * number (epoch MILLISECONDS), or ISO string; `date` Date, "YYYY-MM-DD" or number (days since epoch);
 * `decimal` string, number or bigint (scaled by the schema's scale); arrays; maps as plain objects or
 * Map; structs as plain objects. Anything else (including strings with lone UTF-16 surrogates, which
 * have no UTF-8 form) makes `encode` throw a `RowEncodingError`.
 */

/** A row does not fit the feature group's schema (thrown by `encode` / `encodeRow`). */
export class RowEncodingError extends Schema.TaggedError<RowEncodingError>()("RowEncodingError", {
  featureGroup: Schema.String,
  field: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    return `Row does not fit feature group ${this.featureGroup}${
      this.field === undefined ? "" : ` (field "${this.field}")`
    }: ${this.detail}`
  }
}

/** The subject schema cannot be used (not a record, primary key missing from it, ...). */
export class FeatureGroupSchemaError extends Schema.TaggedError<FeatureGroupSchemaError>()("FeatureGroupSchemaError", {
  featureGroup: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The Avro subject of feature group ${this.featureGroup} cannot be used: ${this.detail}. ` +
      "Re-resolve the feature group (its schema may have changed) or check it in the Hopsworks UI."
  }
}

export interface FeatureGroupEncoder {
  readonly topic: string
  /** The headers every record carries (shared, do not mutate). */
  readonly headers: Readonly<Record<string, Buffer>>
  /** The wire schema (complex fields as `["null","bytes"]`). */
  readonly encodedSchema: AvroSchema
  readonly encodeRow: (row: Readonly<Record<string, unknown>>) => OutgoingRecord
  readonly encode: (rows: ReadonlyArray<Readonly<Record<string, unknown>>>) => Array<OutgoingRecord>
}

export interface FeatureGroupDecoder {
  /** Decodes a value written by a Hopsworks client back to a row (complex fields decoded from their bytes). */
  readonly decode: (value: Uint8Array) => Record<string, unknown>
}

// ---------------------------------------------------------------------------------------------
// avsc types

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** Avro `long` as number (safe integers) or bigint; decodes to number when safe, bigint otherwise. */
const longType = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => {
    const n = b.readBigInt64LE()
    return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n
  },
  toBuffer: (n: number | bigint) => {
    const b = Buffer.allocUnsafe(8)
    b.writeBigInt64LE(BigInt(n))
    return b
  },
  fromJSON: (x: unknown) => (typeof x === "bigint" ? x : BigInt(x as number)),
  toJSON: (x: number | bigint) => Number(x),
  isValid: (n: unknown) =>
    (typeof n === "bigint" && n >= -(2n ** 63n) && n < 2n ** 63n) || (typeof n === "number" && Number.isSafeInteger(n)),
  compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0)
})

/** The schema with logical types replaced by their underlying primitive (conversions happen in the converters). */
const withoutLogicalTypes = (schema: AvroSchema): AvroSchema => {
  if (Array.isArray(schema)) return (schema as ReadonlyArray<AvroSchema>).map(withoutLogicalTypes)
  if (typeof schema === "string") return schema
  const s = schema as Exclude<AvroSchema, string | ReadonlyArray<AvroSchema>>
  switch (s.type) {
    case "array":
      return { ...s, items: withoutLogicalTypes(s.items) }
    case "map":
      return { ...s, values: withoutLogicalTypes(s.values) }
    case "record":
      return { ...s, fields: s.fields.map((f) => ({ ...f, type: withoutLogicalTypes(f.type) })) }
  }
  return typeof s.type === "string" ? (s.type as AvroSchema) : s
}

/** Compiles an Avro schema with plain primitives; `long` accepts number and bigint. */
const compile = (schema: AvroSchema): avro.Type =>
  avro.Type.forSchema(withoutLogicalTypes(schema) as avro.Schema, { registry: { long: longType }, wrapUnions: "auto" })

// ---------------------------------------------------------------------------------------------
// JS value <-> avsc value converters, compiled once from the schema

type Convert = (value: unknown) => unknown

const identity: Convert = (v) => v
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null

const MICROS_PER_MS = 1000n
const MS_PER_DAY = 86_400_000

const toTimestampMicros: Convert = (v) => {
  if (v instanceof Date) return BigInt(v.getTime()) * MICROS_PER_MS
  if (typeof v === "number" && Number.isFinite(v)) return BigInt(Math.trunc(v)) * MICROS_PER_MS
  if (typeof v === "string") {
    const ms = Date.parse(v)
    if (!Number.isNaN(ms)) return BigInt(ms) * MICROS_PER_MS
  }
  return v // bigint micros, or invalid (avsc reports it)
}
const fromTimestampMicros: Convert = (v) =>
  v === null ? null : new Date(Number(typeof v === "bigint" ? v / MICROS_PER_MS : Math.floor((v as number) / 1000)))

const toDateDays: Convert = (v) => {
  if (v instanceof Date) return Math.floor(v.getTime() / MS_PER_DAY)
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v)) {
    return Math.floor(Date.parse(`${v}T00:00:00Z`) / MS_PER_DAY)
  }
  return v
}
const fromDateDays: Convert = (v) => (v === null ? null : new Date((v as number) * MS_PER_DAY))

/** Two's-complement big-endian bytes of `unscaled` (minimal length), as Avro's decimal wants. */
const bigintToTwosComplement = (unscaled: bigint): Buffer => {
  let hex = (unscaled < 0n ? -unscaled : unscaled).toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  let bytes = Buffer.from(hex, "hex")
  if (unscaled >= 0n) {
    if (bytes.length === 0 || (bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes])
    return bytes
  }
  // negative: two's complement of the magnitude, with enough room for the sign bit
  const width = bytes.length + ((bytes[0]! & 0x80) !== 0 ? 1 : 0)
  const mod = 1n << BigInt(width * 8)
  let h = (mod + unscaled).toString(16).padStart(width * 2, "0")
  if ((parseInt(h.slice(0, 2), 16) & 0x80) === 0) h = `ff${h}`
  return Buffer.from(h, "hex")
}
const twosComplementToBigint = (b: Uint8Array): bigint => {
  if (b.length === 0) return 0n
  let n = BigInt(`0x${Buffer.from(b).toString("hex")}`)
  if ((b[0]! & 0x80) !== 0) n -= 1n << BigInt(b.length * 8)
  return n
}

const decimalToUnscaled = (v: unknown, scale: number): bigint | undefined => {
  if (typeof v === "bigint") return v * 10n ** BigInt(scale)
  const text = typeof v === "number" && Number.isFinite(v)
    ? v.toFixed(scale)
    : typeof v === "string"
    ? v.trim()
    : undefined
  if (text === undefined) return undefined
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text)
  if (m === null || (m[2] === "" && (m[3] ?? "") === "")) return undefined
  const frac = (m[3] ?? "").padEnd(scale, "0")
  if (frac.length > scale && /[^0]/.test(frac.slice(scale))) return undefined // would lose digits
  const digits = BigInt(`${m[2] || "0"}${frac.slice(0, scale)}`)
  return m[1] === "-" ? -digits : digits
}
const toDecimal = (scale: number): Convert => (v) => {
  const unscaled = decimalToUnscaled(v, scale)
  return unscaled === undefined ? v : bigintToTwosComplement(unscaled)
}
const fromDecimal = (scale: number): Convert => (v) => {
  if (v === null) return null
  const n = twosComplementToBigint(v as Uint8Array)
  const negative = n < 0n
  const digits = (negative ? -n : n).toString().padStart(scale + 1, "0")
  const text = scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`
  return negative ? `-${text}` : text
}

const toInt: Convert = (v) => (typeof v === "bigint" ? Number(v) : v)
const toFloating: Convert = (v) => (typeof v === "bigint" ? Number(v) : v)
const toBytes: Convert = (v) => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v) : v)
const fromBytes: Convert = (v) => v
/** A lone UTF-16 surrogate has no UTF-8 form: refuse it rather than write U+FFFD (keys could collide). */
const toWellFormedString: Convert = (v) => {
  if (typeof v === "string" && !v.isWellFormed()) throw new Error("string contains a lone UTF-16 surrogate")
  return v
}

interface Converters {
  readonly toAvro: Convert
  readonly fromAvro: Convert
}

const converters = (schema: AvroSchema): Converters => {
  if (Array.isArray(schema)) {
    const branches = (schema as ReadonlyArray<AvroSchema>).filter((s) => s !== "null")
    const inner = branches.length === 1 ? converters(branches[0]!) : { toAvro: identity, fromAvro: identity }
    return {
      toAvro: (v) => (v === null || v === undefined ? null : inner.toAvro(v)),
      fromAvro: (v) => (v === null ? null : inner.fromAvro(v))
    }
  }
  if (typeof schema === "string") {
    switch (schema) {
      case "int":
        return { toAvro: toInt, fromAvro: identity }
      case "float":
      case "double":
        return { toAvro: toFloating, fromAvro: identity }
      case "bytes":
        return { toAvro: toBytes, fromAvro: fromBytes }
      case "string":
        return { toAvro: toWellFormedString, fromAvro: identity }
      default:
        return { toAvro: identity, fromAvro: identity }
    }
  }
  const s = schema as Exclude<AvroSchema, string | ReadonlyArray<AvroSchema>>
  switch (s.type) {
    case "array": {
      const item = converters(s.items)
      return {
        toAvro: (v) => (Array.isArray(v) ? v.map(item.toAvro) : v),
        fromAvro: (v) => (v as Array<unknown>).map(item.fromAvro)
      }
    }
    case "map": {
      const value = converters(s.values)
      return {
        toAvro: (v) => {
          const entries = v instanceof Map ? [...v.entries()] : isObject(v) ? Object.entries(v) : undefined
          if (entries === undefined) return v
          const out: Record<string, unknown> = {}
          for (const [k, x] of entries) out[String(k)] = value.toAvro(x)
          return out
        },
        fromAvro: (v) => {
          const out: Record<string, unknown> = {}
          for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = value.fromAvro(x)
          return out
        }
      }
    }
    case "record": {
      const fields = s.fields.map((f) => ({ name: f.name, ...converters(f.type) }))
      return {
        toAvro: (v) => {
          if (!isObject(v)) return v
          const out: Record<string, unknown> = {}
          for (const f of fields) out[f.name] = f.toAvro(v[f.name] ?? null)
          return out
        },
        fromAvro: (v) => {
          const rec = v as Record<string, unknown>
          const out: Record<string, unknown> = {}
          for (const f of fields) out[f.name] = f.fromAvro(rec[f.name] ?? null)
          return out
        }
      }
    }
  }
  if ("logicalType" in s) {
    switch (s.logicalType) {
      case "timestamp-micros":
        return { toAvro: toTimestampMicros, fromAvro: fromTimestampMicros }
      case "date":
        return { toAvro: toDateDays, fromAvro: fromDateDays }
      case "decimal":
        return { toAvro: toDecimal(s.scale ?? 0), fromAvro: fromDecimal(s.scale ?? 0) }
    }
  }
  return { toAvro: identity, fromAvro: identity }
}

// ---------------------------------------------------------------------------------------------
// schema analysis

const nonNullBranch = (type: AvroSchema): AvroSchema => {
  if (!Array.isArray(type)) return type
  const branches = (type as ReadonlyArray<AvroSchema>).filter((s) => s !== "null")
  return branches.length === 1 ? branches[0]! : type
}

/** A field is complex when its (non-null) Avro type is an array, map or record. */
const isComplexAvro = (type: AvroSchema): boolean => {
  const t = nonNullBranch(type)
  return typeof t === "object" && !Array.isArray(t) && "type" in t &&
    (t.type === "array" || t.type === "map" || t.type === "record")
}

interface CompiledField {
  readonly name: string
  readonly complex: boolean
  /** The field's full type (for complex fields: what their bytes are encoded with). */
  readonly type: avro.Type
  readonly toAvro: Convert
  readonly fromAvro: Convert
}

interface Compiled {
  readonly label: string
  readonly encodedSchema: AvroSchema
  readonly encodedType: avro.Type
  readonly fields: ReadonlyArray<CompiledField>
}

const compileFeatureGroup = (fg: ResolvedFeatureGroup): Compiled => {
  const label = `${fg.name} v${fg.version}`
  let parsed: unknown
  try {
    parsed = JSON.parse(fg.subject.schema)
  } catch (error) {
    throw new FeatureGroupSchemaError({ featureGroup: label, detail: `subject schema is not JSON (${String(error)})` })
  }
  if (!isObject(parsed) || parsed["type"] !== "record" || !Array.isArray(parsed["fields"])) {
    throw new FeatureGroupSchemaError({ featureGroup: label, detail: "subject schema is not an Avro record" })
  }
  const record = parsed as unknown as { name: string; namespace?: string; fields: ReadonlyArray<AvroField> }
  const names = new Set(record.fields.map((f) => f.name))
  for (const pk of fg.primaryKey) {
    if (!names.has(pk)) {
      throw new FeatureGroupSchemaError({
        featureGroup: label,
        detail: `primary key "${pk}" is not in the subject schema`
      })
    }
  }
  try {
    const fields = record.fields.map((f): CompiledField => {
      const complex = isComplexAvro(f.type)
      return { name: f.name, complex, type: compile(f.type), ...converters(f.type) }
    })
    const encodedSchema: AvroSchema = {
      type: "record",
      name: record.name,
      ...(record.namespace === undefined ? {} : { namespace: record.namespace }),
      fields: record.fields.map((f) => (isComplexAvro(f.type) ? { name: f.name, type: ["null", "bytes"] } : f))
    }
    return { label, encodedSchema, encodedType: compile(encodedSchema), fields }
  } catch (error) {
    if (error instanceof FeatureGroupSchemaError) throw error
    throw new FeatureGroupSchemaError({ featureGroup: label, detail: `invalid Avro schema (${String(error)})` })
  }
}

// ---------------------------------------------------------------------------------------------
// encoder / decoder

export interface EncoderOptions {
  /** From `HopsworksClient.createOnlineIngestion`; adds the `onlineIngestionId` header. */
  readonly onlineIngestionId?: number | undefined
}

/** Builds the encoder for one feature group (throws `FeatureGroupSchemaError` if its subject is unusable). */
export const makeFeatureGroupEncoder = (
  fg: ResolvedFeatureGroup,
  options: EncoderOptions = {}
): FeatureGroupEncoder => {
  const { encodedType, fields, label, encodedSchema } = compileFeatureGroup(fg)
  const topic = fg.onlineTopicName
  const primaryKey = fg.primaryKey
  const headers: Record<string, Buffer> = {
    projectId: Buffer.from(String(fg.projectId), "utf8"),
    featureGroupId: Buffer.from(String(fg.featureGroupId), "utf8"),
    subjectId: Buffer.from(String(fg.subject.id), "utf8")
  }
  if (options.onlineIngestionId !== undefined) {
    headers["onlineIngestionId"] = Buffer.from(String(options.onlineIngestionId), "utf8")
  }
  Object.freeze(headers)

  /** Finds which field made avsc refuse the row, for a useful error. */
  const explain = (row: Readonly<Record<string, unknown>>, error: unknown): RowEncodingError => {
    for (const f of fields) {
      const value = row[f.name] ?? null
      let converted: unknown
      try {
        converted = f.toAvro(value)
      } catch (e) {
        return new RowEncodingError({ featureGroup: label, field: f.name, detail: String(e) })
      }
      if (!f.type.isValid(converted)) {
        return new RowEncodingError({
          featureGroup: label,
          field: f.name,
          detail: `value ${describe(value)} is not valid for Avro type ${JSON.stringify(f.type.schema())}`
        })
      }
    }
    return new RowEncodingError({ featureGroup: label, detail: String(error) })
  }

  const key = (row: Readonly<Record<string, unknown>>): string => {
    let out = ""
    for (let i = 0; i < primaryKey.length; i++) {
      const name = primaryKey[i]!
      const v = row[name]
      if (v === null || v === undefined) {
        throw new RowEncodingError({ featureGroup: label, field: name, detail: "primary key value is missing" })
      }
      out = i === 0 ? String(v) : `${out};${String(v)}`
    }
    return out
  }

  const encodeRow = (row: Readonly<Record<string, unknown>>): OutgoingRecord => {
    const k = key(row)
    const wire: Record<string, unknown> = {}
    let value: Buffer
    try {
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!
        const converted = f.toAvro(row[f.name] ?? null)
        // complex: encoded on its own with the field's full union type (null -> the byte 0x00)
        wire[f.name] = f.complex ? f.type.toBuffer(converted) : converted
      }
      value = encodedType.toBuffer(wire)
    } catch (error) {
      throw explain(row, error)
    }
    return { topic, key: Buffer.from(k, "utf8"), value, headers }
  }

  const encode = (rows: ReadonlyArray<Readonly<Record<string, unknown>>>): Array<OutgoingRecord> => {
    const out: Array<OutgoingRecord> = []
    for (let i = 0; i < rows.length; i++) out.push(encodeRow(rows[i]!))
    return out
  }

  return { topic, headers, encodedSchema, encodeRow, encode }
}

/**
 * The reverse, for code that plays the Hopsworks side (the local emulator's materializer). Longs come
 * back as numbers (bigint beyond 2^53), timestamps and dates as Date, decimals as strings, bytes as Buffer.
 */
export const makeFeatureGroupDecoder = (fg: ResolvedFeatureGroup): FeatureGroupDecoder => {
  const { encodedType, fields } = compileFeatureGroup(fg)
  const decode = (value: Uint8Array): Record<string, unknown> => {
    const wire = encodedType.fromBuffer(Buffer.isBuffer(value) ? value : Buffer.from(value)) as Record<string, unknown>
    const row: Record<string, unknown> = {}
    for (const f of fields) {
      const raw = wire[f.name] ?? null
      row[f.name] = f.complex
        ? (raw === null ? null : f.fromAvro(f.type.fromBuffer(raw as Buffer)))
        : f.fromAvro(raw)
    }
    return row
  }
  return { decode }
}

const describe = (v: unknown): string => {
  if (typeof v === "bigint") return `${v}n`
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v)
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? "invalid" : v.toISOString()})`
  try {
    const s = JSON.stringify(v)
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 80)}...` : s
  } catch {
    return String(v)
  }
}
