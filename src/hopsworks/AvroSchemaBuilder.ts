import { Schema } from "effect"

/**
 * The Hopsworks SERVER's mapping from a feature list (Hive types) to the Avro schema it registers as
 * subject `<fg>_<version>` (`AvroSchemaConstructorController`, protocol page §4.2). Clients never
 * derive this themselves, they download the subject; this module exists for the parts of this
 * project that play the server (the local emulator, the test server) and to validate Hive types
 * before asking the server to create a feature group.
 *
 * Output is JSON with the same key order as Avro Java's `Schema.toString()`, so
 * `JSON.stringify(hiveTypeToAvro(t, ""))` equals the server's compact string.
 */

type AvroPrimitiveName = "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string"

interface AvroLogical {
  readonly type: "int" | "long" | "bytes"
  readonly logicalType: "date" | "timestamp-micros" | "decimal"
  readonly precision?: number
  readonly scale?: number
}
interface AvroArray {
  readonly type: "array"
  readonly items: AvroSchema
}
interface AvroMap {
  readonly type: "map"
  readonly values: AvroSchema
}
export interface AvroField {
  readonly name: string
  readonly type: AvroSchema
}
interface AvroRecord {
  readonly type: "record"
  readonly name: string
  readonly namespace?: string
  readonly fields: ReadonlyArray<AvroField>
}
export type AvroSchema = AvroPrimitiveName | AvroLogical | AvroArray | AvroMap | AvroRecord | ReadonlyArray<AvroSchema>

/** A Hive type the server would refuse (unknown primitive, non-string map key, malformed brackets). */
export class AvroSchemaError extends Schema.TaggedError<AvroSchemaError>()("AvroSchemaError", {
  hiveType: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `Hive type "${this.hiveType}" cannot be turned into an Avro schema: ${this.detail}`
  }
}

/** Java's `String.hashCode()` (UTF-16 code units, 32-bit wrap-around). */
export const javaStringHashCode = (s: string): number => {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/** Java's `Math.abs(int)`: `abs(Integer.MIN_VALUE)` stays negative. */
const javaAbs = (n: number): number => (n === -2147483648 ? n : Math.abs(n))

/** Lower-cased, all whitespace removed: the form the server parses (and hashes for struct names). */
const sanitizeHiveType = (hiveType: string): string => hiveType.toLowerCase().replace(/\s+/g, "")

/** `array<..>`, `map<..>`, `struct<..>`, `uniontype<..>` (hsfs `Feature.is_complex`). */
export const isComplexHiveType = (hiveType: string): boolean => /^\s*(map|array|struct|uniontype)\b/i.test(hiveType)

const innerType = (sanitized: string, prefixLength: number, original: string): string => {
  const inner = sanitized.slice(prefixLength)
  if (inner.startsWith("<") && inner.endsWith(">")) return inner.slice(1, -1)
  throw new AvroSchemaError({ hiveType: original, detail: "expected <...> after the type name" })
}

/** Splits `a:int,b:struct<x:int,y:string>` on the commas that are not inside brackets. */
const splitTopLevel = (s: string, original: string): Array<string> => {
  const parts: Array<string> = []
  let depth = 0
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]
    if (ch === "<") depth++
    else if (ch === ">") {
      depth--
      if (depth < 0) throw new AvroSchemaError({ hiveType: original, detail: "unbalanced '>'" })
    } else if (ch === "," && depth === 0) {
      parts.push(s.slice(start, i))
      start = i + 1
    }
  }
  if (depth !== 0) throw new AvroSchemaError({ hiveType: original, detail: "unbalanced '<'" })
  parts.push(s.slice(start))
  return parts
}

const decimalPattern = /^decimal(?:\((\d+),(\d+)\))?$/

const primitive = (t: string, original: string): AvroSchema => {
  switch (t) {
    case "int":
    case "smallint":
    case "tinyint":
      return "int"
    case "bigint":
      return "long"
    case "float":
      return "float"
    case "double":
      return "double"
    case "boolean":
      return "boolean"
    case "string":
      return "string"
    case "binary":
      return "bytes"
    case "date":
      return { type: "int", logicalType: "date" }
    case "timestamp":
      return { type: "long", logicalType: "timestamp-micros" }
  }
  const decimal = decimalPattern.exec(t)
  if (decimal !== null) {
    // Hive's default for a bare `decimal` is decimal(10,0).
    return {
      type: "bytes",
      logicalType: "decimal",
      precision: Number(decimal[1] ?? 10),
      scale: Number(decimal[2] ?? 0)
    }
  }
  if (/^(varchar|char)\(\d+\)$/.test(t)) return "string"
  throw new AvroSchemaError({ hiveType: original, detail: `"${t}" is not a supported Hive type` })
}

const toAvroSanitized = (t: string, namespace: string, original: string): AvroSchema => {
  let result: AvroSchema
  if (t.startsWith("array")) {
    result = { type: "array", items: toAvroSanitized(innerType(t, 5, original), namespace, original) }
  } else if (t.startsWith("map")) {
    const inner = innerType(t, 3, original)
    const comma = inner.indexOf(",")
    const keyType = comma < 0 ? inner : inner.slice(0, comma)
    if (comma < 0 || keyType !== "string") {
      throw new AvroSchemaError({ hiveType: original, detail: `map keys must be string, found "${keyType}"` })
    }
    result = { type: "map", values: toAvroSanitized(inner.slice(comma + 1), namespace, original) }
  } else if (t.startsWith("struct")) {
    const recordName = `r${javaAbs(javaStringHashCode(t))}`
    const childNamespace = namespace.length > 0 ? `${namespace}.${recordName}` : recordName
    const fields = splitTopLevel(innerType(t, 6, original), original).map((field): AvroField => {
      const colon = field.indexOf(":")
      if (colon <= 0) {
        throw new AvroSchemaError({ hiveType: original, detail: `struct field "${field}" is not name:type` })
      }
      return { name: field.slice(0, colon), type: toAvroSanitized(field.slice(colon + 1), childNamespace, original) }
    })
    result = namespace.length > 0
      ? { type: "record", name: recordName, namespace, fields }
      : { type: "record", name: recordName, fields }
  } else {
    result = primitive(t, original)
  }
  return ["null", result]
}

/**
 * The nullable Avro type of one Hive type, as the server builds it: `["null", T]`, with nested
 * items/values/fields nullable too; a struct becomes a record named `r<abs(hashCode)>` in `namespace`
 * (the feature name at top level). Throws `AvroSchemaError` for a type the server would refuse.
 */
export const hiveTypeToAvro = (hiveType: string, namespace: string): AvroSchema =>
  toAvroSanitized(sanitizeHiveType(hiveType), namespace, hiveType)

/** Undefined when the server would accept the type, otherwise why not. */
export const hiveTypeProblem = (hiveType: string): string | undefined => {
  try {
    hiveTypeToAvro(hiveType, "x")
    return undefined
  } catch (error) {
    return error instanceof AvroSchemaError ? error.message : String(error)
  }
}

interface FeatureGroupSchemaInput {
  readonly featureGroupName: string
  readonly version: number
  /** The name of the project that owns the feature store (lower-cased for the namespace). */
  readonly projectName: string
  readonly features: ReadonlyArray<{ readonly name: string; readonly type: string }>
}

/** The subject schema of a feature group: record `<fg>_<version>` in `<project lower>_featurestore.db`. */
export const buildFeatureGroupAvroSchema = (input: FeatureGroupSchemaInput): AvroRecord => ({
  type: "record",
  name: `${input.featureGroupName}_${input.version}`,
  namespace: `${input.projectName.toLowerCase()}_featurestore.db`,
  fields: input.features.map((f) => ({ name: f.name, type: hiveTypeToAvro(f.type, f.name) }))
})

/** The same, as the JSON string stored in the subject (`SubjectDTO.schema`). */
export const buildFeatureGroupAvroSchemaString = (input: FeatureGroupSchemaInput): string =>
  JSON.stringify(buildFeatureGroupAvroSchema(input))
