import avro from "avsc"
import type { AvroSchema } from "./AvroSchemaBuilder.ts"

/**
 * JS values <-> the values avsc encodes, per Avro type, for the feature group writer: which JS values
 * each Avro type accepts (see FeatureGroupWriter) and how logical types (timestamp-micros, date,
 * decimal) and 64-bit longs are carried. Converters are compiled once from a schema; they leave a
 * value they cannot convert as it is, for avsc to refuse.
 */

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
export const compileAvroType = (schema: AvroSchema): avro.Type =>
  avro.Type.forSchema(withoutLogicalTypes(schema) as avro.Schema, { registry: { long: longType }, wrapUnions: "auto" })

// ---------------------------------------------------------------------------------------------
// JS value <-> avsc value converters, compiled once from the schema

type Convert = (value: unknown) => unknown

const identity: Convert = (v) => v
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null

const MICROS_PER_MS = 1000n
const MS_PER_DAY = 86_400_000

/**
 * ISO 8601 date-times; one without a zone is UTC (as hsfs reads naive datetimes), never the host's
 * zone. Up to nine fraction digits, of which micros are kept.
 */
const isoDateTime = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?)?$/i

const isoToMicros = (text: string): bigint | undefined => {
  const m = isoDateTime.exec(text.trim())
  if (m === null) return undefined
  const [, date, time = "00:00:00", fraction = "", zone = "Z"] = m
  const ms = Date.parse(`${date}T${time.length === 5 ? `${time}:00` : time}${zone.toUpperCase()}`)
  if (Number.isNaN(ms)) return undefined
  return BigInt(ms) * MICROS_PER_MS + BigInt(fraction.padEnd(6, "0").slice(0, 6))
}

/** Epoch milliseconds (sub-millisecond digits kept as micros), a Date, an ISO string, or bigint micros. */
const toTimestampMicros: Convert = (v) => {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? v : BigInt(v.getTime()) * MICROS_PER_MS
  if (typeof v === "number" && Number.isFinite(v)) {
    const whole = Math.trunc(v)
    return BigInt(whole) * MICROS_PER_MS + BigInt(Math.round((v - whole) * 1000))
  }
  if (typeof v === "string") return isoToMicros(v) ?? v
  return v // bigint micros, or invalid (avsc reports it)
}
const fromTimestampMicros: Convert = (v) =>
  v === null ? null : new Date(Number(typeof v === "bigint" ? v / MICROS_PER_MS : Math.floor((v as number) / 1000)))

/** Days since the epoch (UTC): a Date, "YYYY-MM-DD", or a number of days. */
const toDateDays: Convert = (v) => {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? v : Math.floor(v.getTime() / MS_PER_DAY)
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

export interface Converters {
  readonly toAvro: Convert
  readonly fromAvro: Convert
}

export const converters = (schema: AvroSchema): Converters => {
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
