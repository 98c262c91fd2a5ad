/**
 * The online store's side of a feature: the RonDB/MySQL column type it gets (`onlineType`) and what
 * fits in it. The server picks the column when the feature group is created (a string is
 * `varchar(100)` unless the feature asks for another type) and refuses definitions its online tables
 * cannot hold; a row whose string is longer than its column would be produced to Kafka and then fail
 * in the online store, so the writer checks it before producing, as hsfs does.
 */

/** What the server gives a string feature when the feature names no online type. */
export const defaultStringOnlineType = "varchar(100)"

/** Feature and feature-group names: a lower-case letter first, then lower-case letters, digits, `_`; at most 63. */
export const entityNamePattern = /^[a-z][a-z0-9_]{0,62}$/

const normalise = (type: string): string => type.toLowerCase().replace(/\s+/g, "")

const isComplexOrBinary = (offline: string): boolean => /^(array|struct|map|binary|uniontype)/.test(offline)

/** The online type the server uses for a feature: the one it names, or the server's default for its Hive type. */
export const onlineTypeOf = (feature: { readonly type: string; readonly onlineType?: string | undefined }): string => {
  if (feature.onlineType !== undefined && feature.onlineType.trim().length > 0) return normalise(feature.onlineType)
  const offline = normalise(feature.type)
  if (offline === "string") return defaultStringOnlineType
  if (offline === "boolean") return "tinyint"
  if (isComplexOrBinary(offline)) return "varbinary(100)"
  return offline
}

/** At most `max` characters (varchar) or bytes (text types) of a string value. */
export interface StringLimit {
  readonly max: number
  readonly unit: "characters" | "bytes"
  /** The online type the limit comes from, for messages. */
  readonly onlineType: string
}

const textBytes: Record<string, number> = {
  tinytext: 255,
  text: 65_535,
  mediumtext: 16_777_215,
  longtext: 4_294_967_295
}

/** How long a string feature's value may be online; undefined for features that are not strings. */
export const stringLimitOf = (
  feature: { readonly type: string; readonly onlineType?: string | undefined }
): StringLimit | undefined => {
  if (normalise(feature.type) !== "string") return undefined
  const onlineType = onlineTypeOf(feature)
  const varchar = /^(?:var)?char\((\d+)\)/.exec(onlineType)
  if (varchar !== null) return { max: Number(varchar[1]), unit: "characters", onlineType }
  const bytes = textBytes[onlineType]
  return bytes === undefined ? undefined : { max: bytes, unit: "bytes", onlineType }
}

/** Unicode code points (what VARCHAR(n) counts), without building an array. */
const codePoints = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // a high surrogate followed by a low one is a single character
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/** The length of `value` in the limit's unit when it exceeds the limit, else undefined (the usual case costs one comparison). */
export const exceeds = (limit: StringLimit, value: string): number | undefined => {
  if (limit.unit === "characters") {
    if (value.length <= limit.max) return undefined // never more code points than UTF-16 units
    const n = codePoints(value)
    return n > limit.max ? n : undefined
  }
  if (value.length * 3 <= limit.max) return undefined // at most 3 UTF-8 bytes per UTF-16 unit
  const n = Buffer.byteLength(value, "utf8")
  return n > limit.max ? n : undefined
}

// ---------------------------------------------------------------------------------------------
// what the server refuses when it creates an online feature group

const maxColumns = 500
const maxRowBytes = 30_000
const maxPrimaryKeyBytes = 4_000
const primaryKeyTypes = ["int", "tinyint", "smallint", "bigint", "varchar", "varbinary"]

/** The server's own, conservative, byte estimate of one column. */
const estimatedBytes = (onlineType: string): number => {
  if (onlineType === "tinyint") return 1
  if (onlineType === "smallint") return 2
  if (onlineType === "int" || onlineType === "float") return 4
  if (onlineType === "bigint" || onlineType === "double") return 8
  if (onlineType.startsWith("decimal")) return 16
  if (onlineType === "blob" || onlineType === "text") return 256
  const n = /\((\d+)\)/.exec(onlineType)
  if (n !== null && onlineType.startsWith("varchar")) return Number(n[1]) * (onlineType.includes("latin1") ? 1 : 4)
  if (n !== null && onlineType.startsWith("varbinary")) return Math.round(Number(n[1]) * 1.4)
  return 8
}

/** Offline and online types the server lets go together. */
const compatible = (offline: string, online: string): boolean => {
  if (offline === online) return true
  if (offline === "int" && (online === "tinyint" || online === "smallint")) return true
  if (offline === "boolean" && online === "tinyint") return true
  if (offline === "string") {
    return /^varchar\(\d+\)$/.test(online) || ["text", "mediumtext", "longtext"].includes(online)
  }
  if (isComplexOrBinary(offline)) {
    return /^varbinary\(\d+\)$/.test(online) || ["blob", "mediumblob", "longblob"].includes(online)
  }
  return false
}

interface OnlineFeature {
  readonly name: string
  readonly type: string
  readonly onlineType?: string | undefined
  readonly primary: boolean
}

/** Why the server would refuse these features for an online feature group; undefined when it would not. */
export const onlineSchemaProblem = (features: ReadonlyArray<OnlineFeature>): string | undefined => {
  if (features.length > maxColumns) return `an online feature group has at most ${maxColumns} features`
  let rowBytes = 0
  let keyBytes = 0
  for (const f of features) {
    const online = onlineTypeOf(f)
    const varchar = /^varchar\((\d+)\)$/.exec(online)
    if (varchar !== null && Number(varchar[1]) < 1) return `feature "${f.name}": ${online} holds nothing`
    if (!compatible(normalise(f.type), online)) {
      return `feature "${f.name}": online type ${online} does not go with type ${f.type}`
    }
    const bytes = estimatedBytes(online)
    rowBytes += bytes
    if (f.primary) {
      if (!primaryKeyTypes.some((t) => online.startsWith(t))) {
        return `primary key "${f.name}": online type ${online} cannot be a key (use ${primaryKeyTypes.join(", ")})`
      }
      keyBytes += bytes
    }
  }
  if (keyBytes > maxPrimaryKeyBytes) {
    return `the primary key would take about ${keyBytes} bytes online (at most ${maxPrimaryKeyBytes})`
  }
  if (rowBytes > maxRowBytes) return `a row would take about ${rowBytes} bytes online (at most ${maxRowBytes})`
  return undefined
}
