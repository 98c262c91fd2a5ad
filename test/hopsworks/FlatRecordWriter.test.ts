import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { Schema } from "effect"
import type { AvroField } from "../../src/hopsworks/AvroSchemaBuilder.ts"
import { compileAvroType, converters } from "../../src/hopsworks/AvroValues.ts"
import { compileFlatRecordWriter, Slab } from "../../src/hopsworks/FlatRecordWriter.ts"

/**
 * The direct writer against the general path it stands in for (the field converters, then avsc's
 * compiled type): the same bytes for every row it takes, and it takes every row of plain values.
 */

const fields: ReadonlyArray<AvroField> = [
  { name: "s", type: ["null", "string"] },
  { name: "s2", type: "string" },
  { name: "l", type: ["null", "long"] },
  { name: "l2", type: "long" },
  { name: "i", type: ["null", "int"] },
  { name: "d", type: ["null", "double"] },
  { name: "f", type: ["null", "float"] },
  { name: "b", type: ["null", "boolean"] },
  { name: "late_null", type: ["long", "null"] }
]
const schema = { type: "record" as const, name: "wide_1", fields }
const general = compileAvroType(schema)
const convert = fields.map((f) => ({ name: f.name, ...converters(f.type) }))
const reference = (row: Readonly<Record<string, unknown>>): Buffer | "refused" => {
  try {
    return general.toBuffer(Object.fromEntries(convert.map((f) => [f.name, f.toAvro(row[f.name] ?? null)])))
  } catch {
    return "refused"
  }
}
// An independent reader (avsc's own long type) for rows whose longs it can read back.
const independent = avro.Type.forSchema(schema as avro.Schema)

const write = compileFlatRecordWriter(fields)!

const Long = Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 52) + 1, maximum: 2 ** 52 - 1 }))
const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 31), maximum: 2 ** 31 - 1 }))
const Utf8 = Schema.String.check(Schema.makeFilter((s: string) => s.isWellFormed()))
const Plain = Schema.Struct({
  s: Schema.NullOr(Utf8),
  s2: Utf8,
  l: Schema.NullOr(Long),
  l2: Long,
  i: Schema.NullOr(Int32),
  d: Schema.NullOr(Schema.Number),
  f: Schema.NullOr(Schema.Number),
  b: Schema.NullOr(Schema.Boolean),
  late_null: Schema.NullOr(Long),
  repeat: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3000 }))
})

// Anything a caller might pass: the writer must either write avsc's bytes or decline.
const Anything = Schema.Union([
  Schema.String,
  Schema.Number,
  Schema.BigInt,
  Schema.Boolean,
  Schema.Null,
  Schema.Undefined,
  Schema.Array(Schema.Number)
])
const Loose = Schema.Struct(Object.fromEntries(fields.map((f) => [f.name, Anything])))

describe("compileFlatRecordWriter", () => {
  it.prop("rows of plain values: written, byte for byte what avsc writes", { row: Plain }, ({ row }) => {
    // Strings of every length class: stretch s by `repeat`.
    const wide = { ...row, s: row.s === null ? null : row.s.repeat(row.repeat) + "é€😀" }
    const bytes = write(new Slab(), wide)
    assert.isDefined(bytes, `declined a plain row: ${JSON.stringify(wide)}`)
    assert.deepStrictEqual(bytes, reference(wide))
    // Read back by a reader that shares nothing with either writer (float rounds to 32 bits).
    const back = independent.fromBuffer(bytes!) as Record<string, unknown>
    assert.strictEqual(back["s"], wide.s)
    assert.strictEqual(back["l2"], wide.l2)
    assert.strictEqual(back["d"], wide.d)
  })

  it.prop("any values: either avsc's bytes, or declined (the general path decides)", { row: Loose }, ({ row }) => {
    const bytes = write(new Slab(), row)
    if (bytes !== undefined) assert.deepStrictEqual(bytes, reference(row))
  })

  it("edge values: the limits of the zigzag arithmetic, -0, NaN, lone surrogates", () => {
    const base = { s: "x", s2: "", l: 0, l2: 0, i: 0, d: 0, f: 0, b: false, late_null: null }
    const cases: Array<Record<string, unknown>> = [
      base,
      { ...base, l: 2 ** 52 - 1, l2: -(2 ** 52) + 1 },
      { ...base, l: 2 ** 30 - 1, l2: -(2 ** 30) },
      { ...base, l: 2 ** 30, l2: -(2 ** 30) - 1 },
      { ...base, i: 2 ** 31 - 1 },
      { ...base, i: -(2 ** 31) },
      { ...base, d: -0, f: -0, i: -0, l: -0 },
      { ...base, d: NaN, f: Infinity },
      { ...base, f: 1e40 },
      { ...base, s: "a".repeat(63), s2: "b".repeat(64) },
      { ...base, s: "a".repeat(8191), s2: "b".repeat(8192) },
      { ...base, s: "€".repeat(21), s2: "€".repeat(22) }
    ]
    for (const row of cases) {
      const bytes = write(new Slab(), row)
      assert.isDefined(bytes, JSON.stringify(row))
      assert.deepStrictEqual(bytes, reference(row), JSON.stringify(row))
    }
    // Declined: the general path converts these (bigint, beyond 2^52) or refuses them (lone surrogate, null
    // for a non-null field, a fraction for a long, int out of range).
    for (
      const row of [
        { ...base, l: 2 ** 52 },
        { ...base, l2: 2n ** 60n },
        { ...base, s: "\ud800" },
        { ...base, s2: null },
        { ...base, l: 1.5 },
        { ...base, i: 2 ** 31 },
        { ...base, b: 1 }
      ]
    ) assert.isUndefined(write(new Slab(), row))
  })

  it("records cut from one slab stay intact while later ones are written (slab after slab)", () => {
    const slab = new Slab(256)
    const rows = Array.from({ length: 2000 }, (_, n) => ({
      s: "v".repeat(n % 300),
      s2: String(n),
      l: n * 1_000_003,
      l2: -n,
      i: n,
      d: n / 7,
      f: n,
      b: n % 2 === 0,
      late_null: n % 3 === 0 ? null : n
    }))
    const written = rows.map((row) => write(slab, row)!)
    // A declined row leaves nothing behind in the slab.
    assert.isUndefined(write(slab, { ...rows[0], s2: null }))
    rows.forEach((row, n) => assert.deepStrictEqual(written[n], reference(row), `row ${n}`))
  })

  it("schemas with anything but plain primitives are left to avsc", () => {
    assert.isUndefined(
      compileFlatRecordWriter([{ name: "t", type: { type: "long", logicalType: "timestamp-micros" } }])
    )
    assert.isUndefined(compileFlatRecordWriter([{ name: "a", type: ["null", { type: "array", items: "long" }] }]))
    assert.isUndefined(compileFlatRecordWriter([{ name: "u", type: ["null", "long", "string"] }]))
    assert.isUndefined(compileFlatRecordWriter([{ name: "b", type: ["null", "bytes"] }]))
  })
})
