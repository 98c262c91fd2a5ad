/**
 * A specialised Avro writer for flat records (every feature a plain scalar, or a nullable one): rows
 * are written straight into shared buffers, with the bytes avsc would write. Anything it does not take
 * as it is goes through avsc (see FeatureGroupWriter).
 */
import type { AvroSchema } from "./AvroSchemaBuilder.ts"

/**
 * Buffers that encoded values are cut from: one large allocation shared by many records (as Node's
 * own Buffer pool does), so a record costs a view, not an allocation and a copy. A slab is never
 * written again once a record was cut from it; in-flight records keep theirs alive until released.
 */
export class Slab {
  private buf: Buffer = Buffer.allocUnsafe(0)
  private start = 0
  pos = 0
  private readonly size: number

  constructor(size = 64 * 1024) {
    this.size = size
  }

  /** Starts a record. */
  begin(): void {
    this.start = this.pos
  }

  /** Room for `n` more bytes of the current record (moving it to a fresh slab when full). */
  ensure(n: number): Buffer {
    if (this.pos + n <= this.buf.length) return this.buf
    const partial = this.pos - this.start
    const next = Buffer.allocUnsafe(Math.max(this.size, partial + n + 256))
    this.buf.copy(next, 0, this.start, this.pos)
    this.buf = next
    this.start = 0
    this.pos = partial
    return next
  }

  /** The current record, as a view on the slab. */
  finish(): Buffer {
    return this.buf.subarray(this.start, this.pos)
  }

  /** Drops the current record (its bytes are overwritten by the next one). */
  abort(): void {
    this.pos = this.start
  }
}

// Plain values only: a number for long/int/float/double, a well-formed string, a boolean, null for
// the null branch. Anything else (bigint, Date, a value out of range) goes through avsc.
const Kind = { String: 0, Long: 1, Int: 2, Double: 3, Float: 4, Boolean: 5 } as const
type Kind = (typeof Kind)[keyof typeof Kind]

interface FlatField {
  readonly name: string
  readonly kind: Kind
  /** Union branch byte (zigzag of the index) for null, or -1 when null is not allowed. */
  readonly nullByte: number
  /** Union branch byte of the value, or -1 when the field is not a union. */
  readonly valueByte: number
}

const kinds: Record<string, Kind | undefined> = {
  string: Kind.String,
  long: Kind.Long,
  int: Kind.Int,
  double: Kind.Double,
  float: Kind.Float,
  boolean: Kind.Boolean
}

const flatField = (name: string, type: AvroSchema): FlatField | undefined => {
  if (typeof type === "string") {
    const kind = kinds[type]
    return kind === undefined ? undefined : { name, kind, nullByte: -1, valueByte: -1 }
  }
  if (!Array.isArray(type)) return undefined
  const branches = type as ReadonlyArray<AvroSchema>
  if (branches.length !== 2) return undefined
  const nullIndex = branches.indexOf("null")
  const valueIndex = 1 - nullIndex
  const value = branches[valueIndex]
  const kind = nullIndex < 0 || typeof value !== "string" ? undefined : kinds[value]
  // Zigzag of a small index is twice the index: one byte.
  return kind === undefined ? undefined : { name, kind, nullByte: 2 * nullIndex, valueByte: 2 * valueIndex }
}

// 2^52: below it, 2|n| + 1 is exact in a double, so the zigzag needs no 64-bit arithmetic.
const EXACT_ZIGZAG = 4_503_599_627_370_496

/** Zigzag varint of a safe integer below 2^52 in magnitude (Avro int and long). */
const writeVarLong = (buf: Buffer, pos: number, n: number): number => {
  if (n >= -1073741824 && n < 1073741824) {
    let z = n >= 0 ? n << 1 : (~n << 1) | 1
    while (z > 0x7f) {
      buf[pos++] = (z & 0x7f) | 0x80
      z >>>= 7
    }
    buf[pos++] = z
    return pos
  }
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  while (z > 0x7f) {
    buf[pos++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  buf[pos++] = z
  return pos
}

const varLongSize = (z: number): number => (z < 0x80 ? 1 : z < 0x4000 ? 2 : z < 0x200000 ? 3 : z < 0x10000000 ? 4 : 5)

/** UTF-8 bytes of `s` at the slab's end, with no length prefix (a record key). */
export const writeUtf8 = (slab: Slab, s: string): void => {
  const buf = slab.ensure(s.length * 3)
  slab.pos += buf.write(s, slab.pos, "utf8")
}

/** Avro string: zigzag length, then the UTF-8 bytes. */
const writeString = (slab: Slab, s: string): void => {
  const buf = slab.ensure(s.length * 3 + 5)
  const pos = slab.pos
  // Written after a one-byte length first (strings under 64 bytes), moved when the length needs more.
  const n = buf.write(s, pos + 1, "utf8")
  const prefix = varLongSize(2 * n)
  if (prefix > 1) buf.copyWithin(pos + prefix, pos + 1, pos + 1 + n)
  writeVarLong(buf, pos, n)
  slab.pos = pos + prefix + n
}

/**
 * A writer for records whose fields are all plain primitives or `["null", primitive]` unions (what a
 * feature group with scalar features has): the row's Avro binary, byte for byte what avsc writes
 * for it, straight into a slab — no intermediate object, no per-value conversion. It returns
 * undefined for a row with any value it does not take as is (bigint, Date, out of range, null where
 * null is not allowed, a string with a lone surrogate): the caller then uses the general path, which
 * converts it or explains why it does not fit. undefined for any other schema.
 */
export const compileFlatRecordWriter = (
  fields: ReadonlyArray<{ readonly name: string; readonly type: AvroSchema }>
): ((slab: Slab, row: Readonly<Record<string, unknown>>) => Buffer | undefined) | undefined => {
  const flat: Array<FlatField> = []
  for (const f of fields) {
    const field = flatField(f.name, f.type)
    if (field === undefined) return undefined
    flat.push(field)
  }
  return (slab, row) => {
    slab.begin()
    for (let i = 0; i < flat.length; i++) {
      const f = flat[i]!
      const v = row[f.name]
      if (v === null || v === undefined) {
        if (f.nullByte < 0) return abort(slab)
        slab.ensure(1)[slab.pos++] = f.nullByte
        continue
      }
      // At most 10 bytes for any non-string value plus the branch byte.
      const buf = slab.ensure(11)
      const branch = f.valueByte >= 0
      switch (f.kind) {
        case Kind.String: {
          if (typeof v !== "string" || !v.isWellFormed()) return abort(slab)
          if (branch) buf[slab.pos++] = f.valueByte
          writeString(slab, v)
          break
        }
        case Kind.Long: {
          if (typeof v !== "number" || !Number.isInteger(v) || v >= EXACT_ZIGZAG || v <= -EXACT_ZIGZAG) {
            return abort(slab)
          }
          if (branch) buf[slab.pos++] = f.valueByte
          slab.pos = writeVarLong(buf, slab.pos, v)
          break
        }
        case Kind.Int: {
          if (typeof v !== "number" || v !== (v | 0)) return abort(slab)
          if (branch) buf[slab.pos++] = f.valueByte
          slab.pos = writeVarLong(buf, slab.pos, v)
          break
        }
        case Kind.Double: {
          if (typeof v !== "number") return abort(slab)
          if (branch) buf[slab.pos++] = f.valueByte
          slab.pos = buf.writeDoubleLE(v, slab.pos)
          break
        }
        case Kind.Float: {
          if (typeof v !== "number") return abort(slab)
          if (branch) buf[slab.pos++] = f.valueByte
          slab.pos = buf.writeFloatLE(v, slab.pos)
          break
        }
        case Kind.Boolean: {
          if (typeof v !== "boolean") return abort(slab)
          if (branch) buf[slab.pos++] = f.valueByte
          buf[slab.pos++] = v ? 1 : 0
          break
        }
      }
    }
    return slab.finish()
  }
}

const abort = (slab: Slab): undefined => {
  slab.abort()
  return undefined
}
