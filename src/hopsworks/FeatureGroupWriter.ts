import type avro from "avsc"
import { Schema } from "effect"
import type { OutgoingRecord } from "../kafka/KafkaRecord.ts"
import type { AvroField, AvroSchema } from "./AvroSchemaBuilder.ts"
import { compileAvroType, type Converters, converters } from "./AvroValues.ts"
import { compileFlatRecordWriter, Slab, writeUtf8 } from "./FlatRecordWriter.ts"
import type { ResolvedFeatureGroup } from "./HopsworksModel.ts"
import { exceeds, type StringLimit, stringLimitOf } from "./OnlineTypes.ts"

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
 * encoder is built once per feature group; `encode` is a plain loop with no Effect per row. When every
 * feature is a plain scalar (string, bigint, int, double, float, boolean), rows are written straight
 * into Avro by AvroValues' flat writer (the same bytes avsc writes), keys and values cut from shared
 * slabs; a value it does not take as is (a bigint, a Date, anything to refuse) goes through avsc.
 *
 * For an online-enabled feature group, a string feature's value must fit its online column (the
 * feature's `onlineType`, `varchar(100)` when the server names none): a longer one would reach the
 * topic and then fail in the online store, so the row is refused here with the feature and the limit.
 *
 * Accepted JS values per Avro type: `long` number (safe integer) or bigint; `int`/`float`/`double`
 * number; `string`; `bytes` Buffer/Uint8Array; `boolean`; `timestamp-micros` (what hsfs writes: micros
 * since the epoch) from a Date, bigint (micros), number (epoch MILLISECONDS, times 1000) or ISO string
 * (one without a zone read as UTC); `date` (days since the epoch) from a Date, "YYYY-MM-DD" or a number of days;
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
class FeatureGroupSchemaError extends Schema.TaggedError<FeatureGroupSchemaError>()("FeatureGroupSchemaError", {
  featureGroup: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The Avro subject of feature group ${this.featureGroup} cannot be used: ${this.detail}. ` +
      "Re-resolve the feature group (its schema may have changed) or check it in the Hopsworks UI."
  }
}

interface FeatureGroupEncoder {
  readonly topic: string
  /** The headers every record carries (shared, do not mutate). */
  readonly headers: Readonly<Record<string, Buffer>>
  /** The wire schema (complex fields as `["null","bytes"]`). */
  readonly encodedSchema: AvroSchema
  readonly encodeRow: (row: Readonly<Record<string, unknown>>) => OutgoingRecord
  readonly encode: (rows: ReadonlyArray<Readonly<Record<string, unknown>>>) => Array<OutgoingRecord>
}

interface FeatureGroupDecoder {
  /** Decodes a value written by a Hopsworks client back to a row (complex fields decoded from their bytes). */
  readonly decode: (value: Uint8Array) => Record<string, unknown>
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

interface CompiledField extends Converters {
  readonly name: string
  readonly complex: boolean
  /** The field's full type (for complex fields: what their bytes are encoded with). */
  readonly type: avro.Type
}

interface Compiled {
  readonly label: string
  readonly encodedSchema: AvroSchema
  readonly encodedType: avro.Type
  readonly fields: ReadonlyArray<CompiledField>
  /** The direct writer when every field is a plain primitive (or nullable one); undefined otherwise. */
  readonly flatWriter: ReturnType<typeof compileFlatRecordWriter>
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null

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
      return { name: f.name, complex, type: compileAvroType(f.type), ...converters(f.type) }
    })
    const encodedSchema: AvroSchema = {
      type: "record",
      name: record.name,
      ...(record.namespace === undefined ? {} : { namespace: record.namespace }),
      fields: record.fields.map((f) => (isComplexAvro(f.type) ? { name: f.name, type: ["null", "bytes"] } : f))
    }
    const flatWriter = compileFlatRecordWriter(record.fields)
    return { label, encodedSchema, encodedType: compileAvroType(encodedSchema), fields, flatWriter }
  } catch (error) {
    if (error instanceof FeatureGroupSchemaError) throw error
    throw new FeatureGroupSchemaError({ featureGroup: label, detail: `invalid Avro schema (${String(error)})` })
  }
}

// ---------------------------------------------------------------------------------------------
// encoder / decoder

interface EncoderOptions {
  /** From `HopsworksClient.createOnlineIngestion`; adds the `onlineIngestionId` header. */
  readonly onlineIngestionId?: number | undefined
}

/** Builds the encoder for one feature group (throws `FeatureGroupSchemaError` if its subject is unusable). */
export const makeFeatureGroupEncoder = (
  fg: ResolvedFeatureGroup,
  options: EncoderOptions = {}
): FeatureGroupEncoder => {
  const { encodedSchema, encodedType, fields, flatWriter, label } = compileFeatureGroup(fg)
  // Values and keys are cut from shared slabs: a view per record rather than two allocations.
  const slab = new Slab()
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
  const limits = onlineStringLimits(fg, new Set(fields.map((f) => f.name)))

  /** Refuses a string longer than its online column before anything is encoded. */
  const checkLimits = (row: Readonly<Record<string, unknown>>) => {
    for (let i = 0; i < limits.length; i++) {
      const { limit, name } = limits[i]!
      const value = row[name]
      if (typeof value !== "string") continue
      const length = exceeds(limit, value)
      if (length !== undefined) {
        throw new RowEncodingError({
          featureGroup: label,
          field: name,
          detail: `${length} ${limit.unit} do not fit the online column ${limit.onlineType} (at most ${limit.max} ` +
            `${limit.unit}); the online store would refuse the row. A feature group version created with a wider ` +
            `online type for "${name}" (setup feature-group --online-type ${name}=varchar(N)) takes it`
        })
      }
    }
  }

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

  /** The general path: converters, then avsc (also what explains a row that does not fit). */
  const encodeValue = (row: Readonly<Record<string, unknown>>): Buffer => {
    const wire: Record<string, unknown> = {}
    try {
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!
        const converted = f.toAvro(row[f.name] ?? null)
        // complex: encoded on its own with the field's full union type (null -> the byte 0x00)
        wire[f.name] = f.complex ? f.type.toBuffer(converted) : converted
      }
      return encodedType.toBuffer(wire)
    } catch (error) {
      throw explain(row, error)
    }
  }

  const encodeRow = (row: Readonly<Record<string, unknown>>): OutgoingRecord => {
    const k = key(row)
    if (limits.length > 0) checkLimits(row)
    // The direct writer takes the usual rows; anything it does not take as is goes the general way.
    const value = (flatWriter === undefined ? undefined : flatWriter(slab, row)) ?? encodeValue(row)
    slab.begin()
    writeUtf8(slab, k)
    return { topic, key: slab.finish(), value, headers }
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

/** The string features of an online feature group whose values have a length limit online. */
const onlineStringLimits = (
  fg: ResolvedFeatureGroup,
  inSchema: ReadonlySet<string>
): ReadonlyArray<{ readonly name: string; readonly limit: StringLimit }> => {
  if (!fg.onlineEnabled) return []
  return fg.features.flatMap((f) => {
    const limit = stringLimitOf(f)
    return limit === undefined || !inSchema.has(f.name) ? [] : [{ name: f.name, limit }]
  })
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
