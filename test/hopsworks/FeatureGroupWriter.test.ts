import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { Schema } from "effect"
import { buildFeatureGroupAvroSchemaString } from "../../src/hopsworks/AvroSchemaBuilder.ts"
import {
  makeFeatureGroupDecoder,
  makeFeatureGroupEncoder,
  RowEncodingError
} from "../../src/hopsworks/FeatureGroupWriter.ts"
import type { ResolvedFeatureGroup } from "../../src/hopsworks/HopsworksClient.ts"

/**
 * The writer is checked against an INDEPENDENT decoder: avsc on a wire schema written out by hand
 * here (and, for complex features, avsc on the field's type taken from the subject), never against
 * makeFeatureGroupDecoder.
 */

const nullable = (t: unknown) => ["null", t]

// The subject as the server registers it, written out by hand.
const transactionsSubject = {
  type: "record",
  name: "transactions_1",
  namespace: "fraud_featurestore.db",
  fields: [
    { name: "transaction_id", type: nullable("string") },
    { name: "event_time", type: nullable("long") },
    { name: "user_id", type: nullable("string") },
    { name: "amount", type: nullable("double") },
    { name: "currency", type: nullable("string") },
    { name: "category", type: nullable("string") }
  ]
}

const transactionsFg: ResolvedFeatureGroup = {
  projectId: 119,
  featureStoreId: 67,
  featureGroupId: 13,
  name: "transactions",
  version: 1,
  onlineTopicName: "fraud_onlinefs",
  onlineEnabled: true,
  primaryKey: ["transaction_id"],
  eventTime: "event_time",
  features: [
    { name: "transaction_id", type: "string" },
    { name: "event_time", type: "bigint" },
    { name: "user_id", type: "string" },
    { name: "amount", type: "double" },
    { name: "currency", type: "string" },
    { name: "category", type: "string" }
  ],
  subject: { id: 2001, version: 1, schema: JSON.stringify(transactionsSubject) }
}

// No complex features: the wire schema is the subject schema itself.
const independentTransactions = avro.Type.forSchema(transactionsSubject as avro.Schema)

/** Strings that exist in UTF-8 (what a Kafka/JSON decoder can produce): no lone surrogates. */
const Utf8String = Schema.String.check(Schema.makeFilter((s: string) => s.isWellFormed()))

const Transaction = Schema.Struct({
  transaction_id: Utf8String,
  // epoch millis; +-2^50 ms is +-35,000 years (avsc's default long reader refuses values near 2^53)
  event_time: Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 50), maximum: 2 ** 50 })),
  user_id: Utf8String,
  amount: Schema.Finite,
  currency: Utf8String,
  category: Utf8String
})

const plain = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === "object" && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  }
  return v
}

const headerText = (headers: unknown) =>
  Object.fromEntries(Object.entries(headers as Record<string, Buffer>).map(([k, v]) => [k, v.toString("utf8")]))

describe("FeatureGroupWriter", () => {
  const encoder = makeFeatureGroupEncoder(transactionsFg)

  it.prop(
    "encode then decode (independent avsc reader) is the identity; key and headers are right",
    { rows: Schema.Array(Transaction) },
    ({ rows }) => {
      const records = encoder.encode(rows)
      assert.strictEqual(records.length, rows.length)
      records.forEach((record, i) => {
        const row = rows[i]!
        assert.strictEqual(record.topic, "fraud_onlinefs")
        assert.deepStrictEqual(plain(independentTransactions.fromBuffer(record.value as Buffer)), { ...row })
        assert.strictEqual((record.key as Buffer).toString("utf8"), row.transaction_id)
        assert.deepStrictEqual(headerText(record.headers), {
          projectId: "119",
          featureGroupId: "13",
          subjectId: "2001"
        })
      })
    }
  )

  it("encodes by field name: extra fields and a different key order give the same bytes; missing = null", () => {
    const row = {
      transaction_id: "t1",
      event_time: 1_700_000_000_000,
      user_id: "u",
      amount: 9.5,
      currency: "EUR",
      category: "food"
    }
    const shuffled = {
      category: "food",
      amount: 9.5,
      extra: { nested: true },
      currency: "EUR",
      user_id: "u",
      event_time: 1_700_000_000_000,
      transaction_id: "t1"
    }
    const a = encoder.encodeRow(row)
    const b = encoder.encodeRow(shuffled)
    assert.deepStrictEqual(a.value, b.value)
    const partial = encoder.encodeRow({ transaction_id: "t2", amount: 1 })
    assert.deepStrictEqual(plain(independentTransactions.fromBuffer(partial.value as Buffer)), {
      transaction_id: "t2",
      event_time: null,
      user_id: null,
      amount: 1,
      currency: null,
      category: null
    })
  })

  it("the value is plain Avro binary (no magic byte, no schema id): first bytes are the union index and the string", () => {
    const v = encoder.encodeRow({ transaction_id: "ab", event_time: 1 }).value as Buffer
    // 0x02 = branch 1 of ["null","string"], 0x04 = length 2, "ab", 0x02 = branch 1 of ["null","long"], 0x02 = zigzag(1)
    assert.deepStrictEqual([...v.subarray(0, 6)], [0x02, 0x04, 0x61, 0x62, 0x02, 0x02])
  })

  it("bigint values for bigint features; onlineIngestionId header when given", () => {
    const withIngestion = makeFeatureGroupEncoder(transactionsFg, { onlineIngestionId: 77 })
    const r = withIngestion.encodeRow({ transaction_id: "x", event_time: 2n ** 60n })
    assert.deepStrictEqual(headerText(r.headers), {
      projectId: "119",
      featureGroupId: "13",
      subjectId: "2001",
      onlineIngestionId: "77"
    })
    // avsc's default long reader refuses > 2^53; read the long by hand: zigzag varint after "x"
    const bytes = (r.value as Buffer).subarray(3) // after 02 02 'x'
    assert.strictEqual(bytes[0], 0x02)
    let n = 0n
    let shift = 0n
    for (const b of bytes.subarray(1)) {
      n |= BigInt(b & 0x7f) << shift
      shift += 7n
      if ((b & 0x80) === 0) break
    }
    assert.strictEqual((n >> 1n) ^ -(n & 1n), 2n ** 60n)
  })

  it("key: primary-key values in FEATURE-LIST order joined with ';'", () => {
    const subject = {
      type: "record",
      name: "multi_1",
      namespace: "p_featurestore.db",
      fields: [
        { name: "b", type: nullable("long") },
        { name: "v", type: nullable("double") },
        { name: "a", type: nullable("string") }
      ]
    }
    const fg: ResolvedFeatureGroup = {
      ...transactionsFg,
      name: "multi",
      primaryKey: ["b", "a"],
      features: [{ name: "b", type: "bigint" }, { name: "v", type: "double" }, { name: "a", type: "string" }],
      subject: { id: 5, version: 1, schema: JSON.stringify(subject) }
    }
    const r = makeFeatureGroupEncoder(fg).encodeRow({ a: "x", v: 1.25, b: 42 })
    assert.strictEqual((r.key as Buffer).toString("utf8"), "42;x")
  })

  it("a row that does not fit fails with RowEncodingError naming the field; a missing primary key too", () => {
    const bad = assert.throws(() => encoder.encodeRow({ transaction_id: "t", event_time: 1.5 }), RowEncodingError)
    assert.include(String(bad), "event_time")
    assert.throws(() => encoder.encodeRow({ transaction_id: "t", amount: "lots" }), /amount/)
    assert.throws(() => encoder.encodeRow({ amount: 1 }), /transaction_id/)
    assert.throws(() => encoder.encodeRow({ transaction_id: "t", user_id: "bad\ud800" }), /user_id.*surrogate/)
  })

  describe("complex features (array<int>, struct, map) are pre-encoded bytes with the field's full union type", () => {
    const features = [
      { name: "id", type: "bigint" },
      { name: "scores", type: "array<int>" },
      { name: "info", type: "struct<label:int,value:array<int>>" },
      { name: "tags", type: "map<string,double>" },
      { name: "note", type: "string" }
    ]
    const subjectSchema = buildFeatureGroupAvroSchemaString({
      featureGroupName: "cx",
      version: 2,
      projectName: "P",
      features
    })
    const fg: ResolvedFeatureGroup = {
      ...transactionsFg,
      name: "cx",
      version: 2,
      primaryKey: ["id"],
      eventTime: undefined,
      features,
      subject: { id: 9, version: 1, schema: subjectSchema }
    }
    const subjectFields = (JSON.parse(subjectSchema) as { fields: Array<{ name: string; type: avro.Schema }> }).fields
    const fieldType = (name: string) => avro.Type.forSchema(subjectFields.find((f) => f.name === name)!.type)
    // the wire schema, written by hand: complex fields are ["null","bytes"]
    const wire = avro.Type.forSchema({
      type: "record",
      name: "cx_2",
      fields: [
        { name: "id", type: ["null", "long"] },
        { name: "scores", type: ["null", "bytes"] },
        { name: "info", type: ["null", "bytes"] },
        { name: "tags", type: ["null", "bytes"] },
        { name: "note", type: ["null", "string"] }
      ]
    })
    const cx = makeFeatureGroupEncoder(fg)

    it("round-trips through the independent two-step decoder", () => {
      const row = {
        id: 7,
        scores: [1, 2, null, -3],
        info: { label: 5, value: [9, 8] },
        tags: { a: 1.5, b: -2 },
        note: "hi"
      }
      const out = wire.fromBuffer(cx.encodeRow(row).value as Buffer) as Record<string, unknown>
      assert.strictEqual(out["id"], 7)
      assert.strictEqual(out["note"], "hi")
      assert.deepStrictEqual(fieldType("scores").fromBuffer(out["scores"] as Buffer), [1, 2, null, -3])
      assert.deepStrictEqual(plain(fieldType("info").fromBuffer(out["info"] as Buffer)), { label: 5, value: [9, 8] })
      assert.deepStrictEqual(plain(fieldType("tags").fromBuffer(out["tags"] as Buffer)), { a: 1.5, b: -2 })
    })

    it("array<int> [1,2] is exactly: outer branch 1, length 7, then branch 1 + block of two nullable ints", () => {
      const value = cx.encodeRow({ id: 1, scores: [1, 2] }).value as Buffer
      // id: 02 02 | scores: 02 0e [02 04 02 02 02 04 00] | info: null complex -> bytes [00]: 02 02 00 | tags: 02 02 00 | note: 00
      assert.deepStrictEqual(
        [...value],
        [0x02, 0x02, 0x02, 0x0e, 0x02, 0x04, 0x02, 0x02, 0x02, 0x04, 0x00, 0x02, 0x02, 0x00, 0x02, 0x02, 0x00, 0x00]
      )
    })

    it("makeFeatureGroupDecoder (for the emulator) reads it back too", () => {
      const row = { id: 3, scores: [4], info: { label: null, value: null }, tags: {}, note: null }
      assert.deepStrictEqual(makeFeatureGroupDecoder(fg).decode(cx.encodeRow(row).value as Buffer), row)
    })
  })

  it("logical types: timestamp (micros), date (days), decimal (two's complement) against avsc's raw reading", () => {
    const features = [
      { name: "k", type: "string" },
      { name: "ts", type: "timestamp" },
      { name: "d", type: "date" },
      { name: "price", type: "decimal(10,2)" }
    ]
    const schema = buildFeatureGroupAvroSchemaString({ featureGroupName: "lt", version: 1, projectName: "p", features })
    const fg: ResolvedFeatureGroup = {
      ...transactionsFg,
      name: "lt",
      primaryKey: ["k"],
      features,
      subject: { id: 1, version: 1, schema }
    }
    const when = new Date("2024-03-01T12:34:56.789Z")
    const r = makeFeatureGroupEncoder(fg).encodeRow({ k: "a", ts: when, d: "2024-03-01", price: "-123.45" })
    // avsc without logical types reads the underlying long / int / bytes
    const raw = avro.Type.forSchema(JSON.parse(schema) as avro.Schema).fromBuffer(r.value as Buffer) as Record<
      string,
      unknown
    >
    assert.strictEqual(raw["ts"], when.getTime() * 1000)
    assert.strictEqual(raw["d"], Math.floor(Date.UTC(2024, 2, 1) / 86_400_000))
    assert.deepStrictEqual([...(raw["price"] as Buffer)], [0xcf, 0xc7]) // -12345 = 0xCFC7
    const back = makeFeatureGroupDecoder(fg).decode(r.value as Buffer)
    assert.deepStrictEqual(back, { k: "a", ts: when, d: new Date(Date.UTC(2024, 2, 1)), price: "-123.45" })
  })
})

describe("online store limits (the string features' online columns)", () => {
  const features = [
    { name: "transaction_id", type: "string", onlineType: "varchar(100)" },
    { name: "event_time", type: "bigint", onlineType: "bigint" },
    { name: "user_id", type: "string" }, // no online type reported: the server's varchar(100)
    { name: "amount", type: "double", onlineType: "double" },
    { name: "currency", type: "string", onlineType: "varchar(3)" },
    { name: "category", type: "string", onlineType: "varchar(1000)" }
  ]
  const fg: ResolvedFeatureGroup = { ...transactionsFg, features }
  const encoder = makeFeatureGroupEncoder(fg)
  const row = { transaction_id: "t", event_time: 1, user_id: "u", amount: 1, currency: "EUR", category: "food" }

  it("a string longer than its column is refused before encoding, naming the feature and the limit", () => {
    const error = assert.throws(() => encoder.encodeRow({ ...row, user_id: "u".repeat(101) }), RowEncodingError)
    assert.include(String(error), "(field \"user_id\")")
    assert.include(String(error), "101 characters do not fit the online column varchar(100) (at most 100 characters)")
    assert.include(String(error), "--online-type user_id=varchar(N)")
    assert.throws(() => encoder.encodeRow({ ...row, currency: "EURO" }), /"currency".*varchar\(3\)/)
  })

  it("at the limit it fits, counted in characters; a wider column takes longer strings", () => {
    const atLimit = { ...row, user_id: "😀".repeat(100), currency: "€€€", category: "x".repeat(1000) }
    assert.deepStrictEqual(
      plain(independentTransactions.fromBuffer(encoder.encodeRow(atLimit).value as Buffer)),
      atLimit
    )
    assert.throws(() => encoder.encodeRow({ ...row, category: "x".repeat(1001) }), /"category".*varchar\(1000\)/)
  })

  it("an offline-only feature group has no online column to fit", () => {
    const offline = makeFeatureGroupEncoder({ ...fg, onlineEnabled: false })
    const long = { ...row, user_id: "u".repeat(5_000) }
    assert.deepStrictEqual(plain(independentTransactions.fromBuffer(offline.encodeRow(long).value as Buffer)), long)
  })
})

describe("timestamp and date features, as hsfs writes them (timestamp-micros, date days)", () => {
  const features = [
    { name: "k", type: "string" },
    { name: "ts", type: "timestamp" },
    { name: "d", type: "date" }
  ]
  const schema = buildFeatureGroupAvroSchemaString({ featureGroupName: "tt", version: 1, projectName: "p", features })
  const fg: ResolvedFeatureGroup = {
    ...transactionsFg,
    name: "tt",
    primaryKey: ["k"],
    features,
    subject: { id: 1, version: 1, schema }
  }
  const encoder = makeFeatureGroupEncoder(fg)
  // Read with the subject schema as a Java or Python reader would, logical types as their underlying
  // long (micros since the epoch, UTC) and int (days since the epoch).
  const subject = avro.Type.forSchema(JSON.parse(schema) as avro.Schema)
  const read = (value: Record<string, unknown>) =>
    subject.fromBuffer(encoder.encodeRow({ k: "a", ...value }).value as Buffer) as { ts: number; d: number }
  const micros = Date.UTC(2024, 2, 1, 12, 34, 56, 789) * 1000

  it("timestamp: epoch milliseconds x 1000, Dates, and ISO strings; one without a zone is UTC", () => {
    assert.strictEqual(read({ ts: Date.UTC(2024, 2, 1, 12, 34, 56, 789) }).ts, micros)
    assert.strictEqual(read({ ts: new Date(Date.UTC(2024, 2, 1, 12, 34, 56, 789)) }).ts, micros)
    assert.strictEqual(read({ ts: "2024-03-01T12:34:56.789Z" }).ts, micros)
    assert.strictEqual(read({ ts: "2024-03-01T12:34:56.789" }).ts, micros, "no zone: UTC, not the host's zone")
    assert.strictEqual(read({ ts: "2024-03-01 12:34:56.789" }).ts, micros)
    assert.strictEqual(read({ ts: "2024-03-01T14:34:56.789+02:00" }).ts, micros)
    assert.strictEqual(read({ ts: "2024-03-01T12:34:56.789123Z" }).ts, micros + 123, "micros are kept")
    assert.strictEqual(read({ ts: 1.5 }).ts, 1500, "sub-millisecond digits of a number are kept")
    assert.strictEqual(read({ ts: "2024-03-01" }).ts, Date.UTC(2024, 2, 1) * 1000)
  })

  it("date: days since the epoch from a Date, YYYY-MM-DD or a number of days", () => {
    const days = Date.UTC(2024, 2, 1) / 86_400_000
    assert.strictEqual(read({ d: "2024-03-01" }).d, days)
    assert.strictEqual(read({ d: new Date(Date.UTC(2024, 2, 1, 23, 59)) }).d, days)
    assert.strictEqual(read({ d: days }).d, days)
  })

  it("what is not a time is refused with the field named, never guessed", () => {
    assert.throws(() => encoder.encodeRow({ k: "a", ts: "yesterday" }), /"ts"/)
    assert.throws(() => encoder.encodeRow({ k: "a", ts: "2024-13-45T00:00:00" }), /"ts"/)
    assert.throws(() => encoder.encodeRow({ k: "a", d: "01/03/2024" }), /"d"/)
  })

  it("the emulator's decoder reads the same instants back", () => {
    const back = makeFeatureGroupDecoder(fg).decode(
      encoder.encodeRow({ k: "a", ts: "2024-03-01T12:34:56.789", d: "2024-03-01" }).value as Buffer
    )
    assert.deepStrictEqual(back, {
      k: "a",
      ts: new Date(Date.UTC(2024, 2, 1, 12, 34, 56, 789)),
      d: new Date(Date.UTC(2024, 2, 1))
    })
  })
})
