import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { CardTransaction } from "../../src/domain/CardTransaction.ts"
import { describeIssue } from "../../src/domain/MalformedRecord.ts"
import { Transaction } from "../../src/domain/Transaction.ts"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { compileStruct, jsonBatchDecoder } from "../../src/runner/BatchDecoder.ts"

/**
 * The compiled validator must agree with the Schema on every input: what it accepts the Schema
 * accepts with the same value (same keys, same order), and it accepts everything the Schema does
 * (otherwise the fast path would silently not apply).
 */

// Values of every JSON kind, and then some (NaN, -0, Infinity) that only code can produce.
const Loose = Schema.Union([
  Schema.String,
  Schema.Number,
  Schema.Boolean,
  Schema.Null,
  Schema.Array(Schema.Number),
  Schema.Record(Schema.String, Schema.Number)
])
const maybe = <S extends Schema.Top>(s: S) => Schema.optionalKey(Schema.Union([s, Loose]))

// Near misses: each field valid, of another kind, or missing; plus an extra key.
const NearTransaction = Schema.Struct({
  transaction_id: maybe(Schema.String),
  event_time: maybe(Schema.Int),
  user_id: maybe(Schema.String),
  amount: maybe(Schema.Finite),
  currency: maybe(Schema.Union([Schema.Literals(["eur", "USD", "Gbp"]), Schema.String])),
  category: maybe(Schema.String),
  extra: Schema.optionalKey(Loose)
})
const NearCard = Schema.Struct({
  tid: maybe(Schema.String),
  datetime: maybe(Schema.Int),
  cc_num: maybe(Schema.Int),
  amount: maybe(Schema.Finite),
  extra: Schema.optionalKey(Loose)
})

const agree = (schema: Schema.Decoder<unknown>, input: unknown) => {
  const compiled = compileStruct(schema.ast)
  assert.isDefined(compiled, "the schema compiles")
  const fast = compiled!(input)
  const reference = Schema.decodeUnknownResult(schema)(input)
  if (Result.isSuccess(reference)) {
    assert.isDefined(fast, `accepted by the Schema but not compiled: ${JSON.stringify(input)}`)
    assert.deepStrictEqual(fast, reference.success)
    assert.deepStrictEqual(Object.keys(fast as object), Object.keys(reference.success as object))
  } else {
    assert.isUndefined(fast, `refused by the Schema (${describeIssue(reference.failure)}) but compiled`)
  }
}

describe("BatchDecoder: the validator compiled from a Schema", () => {
  it.prop("Transaction: valid inputs", { input: Transaction }, ({ input }) => agree(Transaction, input))
  it.prop("Transaction: near misses", { input: NearTransaction }, ({ input }) => agree(Transaction, input))
  it.prop("Transaction: anything", { input: Loose }, ({ input }) => agree(Transaction, input))
  it.prop("CardTransaction: valid inputs", { input: CardTransaction }, ({ input }) => agree(CardTransaction, input))
  it.prop("CardTransaction: near misses", { input: NearCard }, ({ input }) => agree(CardTransaction, input))

  it("edge values", () => {
    const tx = {
      transaction_id: "t",
      event_time: 0,
      user_id: "u",
      amount: 1,
      currency: "eur",
      category: "c"
    }
    for (
      const input of [
        tx,
        { ...tx, event_time: 253_402_300_799_999 },
        { ...tx, event_time: 253_402_300_800_000 },
        { ...tx, event_time: -1 },
        { ...tx, event_time: 1.5 },
        { ...tx, amount: 0 },
        { ...tx, amount: -0 },
        { ...tx, amount: Infinity },
        { ...tx, amount: NaN },
        { ...tx, currency: "EURO" },
        { ...tx, currency: "E1R" },
        { ...tx, transaction_id: "" },
        { ...tx, user_id: undefined },
        [tx],
        null,
        "text",
        Object.assign(Object.create({ transaction_id: "inherited" }), { ...tx, transaction_id: undefined }),
        { ...tx, __proto__: null }
      ]
    ) agree(Transaction, input)
    agree(CardTransaction, { tid: "x", datetime: 1, cc_num: 2 ** 53, amount: 1 })
    agree(CardTransaction, { tid: "x", datetime: 1, cc_num: 2 ** 53 - 1, amount: -5 })
  })

  it("schemas it does not take (transformations, optional keys, unions) are left to the Schema", () => {
    assert.isUndefined(compileStruct(Schema.Struct({ a: Schema.optionalKey(Schema.String) }).ast))
    assert.isUndefined(compileStruct(Schema.Struct({ a: Schema.NumberFromString }).ast))
    assert.isUndefined(compileStruct(Schema.Struct({ a: Schema.Union([Schema.String, Schema.Number]) }).ast))
    assert.isUndefined(compileStruct(Schema.String.ast))
    assert.isUndefined(compileStruct(Schema.Struct({ ["__proto__"]: Schema.String }).ast))
  })

  it("the schemas of the pipelines whose rate matters compile", () => {
    assert.isDefined(compileStruct(Transaction.ast))
    assert.isDefined(compileStruct(CardTransaction.ast))
  })
})

// The decoder before the compiled validator: the reference for whole batches.
const referenceDecode = (schema: Schema.Decoder<unknown>, records: ReadonlyArray<KafkaRecord>) => {
  const decode = Schema.decodeUnknownResult(schema)
  return records.map((r) => {
    if (r.value === null) return { malformed: "empty value (tombstone)" }
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(r.value))
    } catch (error) {
      return { malformed: error instanceof SyntaxError ? `not JSON: ${error.message}` : "value is not valid UTF-8" }
    }
    const result = decode(json)
    return Result.isSuccess(result) ? { valid: result.success } : { malformed: describeIssue(result.failure) }
  })
}

const record = (offset: number, value: Buffer | null): KafkaRecord => ({
  topic: "t",
  partition: 0,
  offset: String(offset),
  timestamp: 0,
  key: null,
  value,
  headers: {}
})

describe("BatchDecoder: jsonBatchDecoder", () => {
  it.prop(
    "a batch splits into valid and malformed exactly as the Schema decides, in order",
    { inputs: Schema.Array(Schema.Union([Transaction, NearTransaction, Loose])) },
    ({ inputs }) => {
      const records = [
        ...inputs.map((input, i) => record(i, Buffer.from(JSON.stringify(input) ?? "null"))),
        record(inputs.length, null),
        record(inputs.length + 1, Buffer.from("{not json")),
        record(inputs.length + 2, Buffer.from([0x7b, 0xff, 0x7d]))
      ]
      const { malformed, valid } = jsonBatchDecoder(Transaction)(records)
      const expected = referenceDecode(Transaction, records)
      assert.deepStrictEqual(
        valid.map((v) => [v.record.offset, v.value]),
        expected.flatMap((e, i) => ("valid" in e ? [[String(i), e.valid]] : []))
      )
      assert.deepStrictEqual(
        malformed.map((m) => [m.record.offset, m.error.reason]),
        expected.flatMap((e, i) => ("malformed" in e ? [[String(i), e.malformed]] : []))
      )
    }
  )
})
