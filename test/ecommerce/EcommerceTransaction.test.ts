import { assert, describe, it } from "@effect/vitest"
import {
  addSales,
  type EcommerceRow,
  emptySalesAggregates,
  formatCents,
  isFailedPayment,
  parseCents,
  parseIsoTimestamp,
  toCents
} from "../../src/domain/EcommerceTransaction.ts"
import { decodeEcommerce } from "../../src/pipelines/ecommerce/EcommercePipeline.ts"
import { EcommerceSimulator } from "../../src/simulator/EcommerceSimulator.ts"
import { recordsOn } from "../support/KafkaRecords.ts"

const record = recordsOn("financial_transactions")

const good = {
  transactionId: "5FB9220D-9B0F-4D32-A248-6492457C3890",
  productId: "product-1",
  productName: "Ergonomic Towels",
  productCategory: "Toys",
  productPrice: 19.99,
  productQuantity: 3,
  totalAmount: 59.97,
  productBrand: "sony",
  currency: "usd",
  customerId: "bryce66",
  transactionDate: "2024-03-31T23:59:59.999999",
  paymentMethod: "credit_card",
  paymentStatus: "completed"
}

const row = (date: string, category: string, cents: number): EcommerceRow => ({
  transactionId: `${date}-${category}-${cents}`,
  productId: "p",
  productName: "n",
  productCategory: category,
  productPriceCents: cents,
  productQuantity: 1,
  totalAmountCents: cents,
  productBrand: "b",
  currency: "USD",
  customerId: "c",
  transactionTime: parseIsoTimestamp(date)!,
  paymentMethod: "m",
  paymentStatus: "completed"
})

describe("ecommerce transaction decoding", () => {
  it("turns a valid record into a row: integer cents, UTC epoch ms, normalised id and currency", () => {
    const { malformed, valid } = decodeEcommerce([record(JSON.stringify(good))])
    assert.strictEqual(malformed.length, 0)
    assert.deepStrictEqual(valid[0]!.value, {
      transactionId: "5fb9220d-9b0f-4d32-a248-6492457c3890",
      productId: "product-1",
      productName: "Ergonomic Towels",
      productCategory: "Toys",
      productPriceCents: 1999,
      productQuantity: 3,
      totalAmountCents: 5997,
      productBrand: "sony",
      currency: "USD",
      customerId: "bryce66",
      // No offset means UTC (the seed's utcnow()), microseconds truncated to the millisecond.
      transactionTime: Date.UTC(2024, 2, 31, 23, 59, 59, 999),
      paymentMethod: "credit_card",
      paymentStatus: "completed"
    })
  })

  it("names the field of every malformed record", () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ ...good, transactionId: "not-a-uuid" }, /transactionId: Expected a UUID/],
      [{ ...good, productPrice: -1 }, /productPrice: Expected a non-negative amount/],
      [{ ...good, totalAmount: 59.971 }, /totalAmount: Expected an amount with at most two decimals/],
      [{ ...good, productQuantity: 0 }, /productQuantity/],
      [{ ...good, transactionDate: "2024-02-30T10:00:00Z" }, /transactionDate: Expected an ISO 8601 timestamp/],
      [{ ...good, transactionDate: "yesterday" }, /transactionDate/],
      [{ ...good, currency: "DOLLARS" }, /currency/],
      [{ ...good, paymentStatus: undefined }, /paymentStatus/]
    ]
    const { malformed, valid } = decodeEcommerce(bad.map(([v], i) => record(JSON.stringify(v), i)))
    assert.strictEqual(valid.length, 0)
    assert.strictEqual(malformed.length, bad.length)
    malformed.forEach((m, i) => assert.match(m.error.reason, bad[i]![1]))
    const other = decodeEcommerce([record("{not json"), record(null)])
    assert.match(other.malformed[0]!.error.reason, /not JSON/)
    assert.match(other.malformed[1]!.error.reason, /tombstone/)
  })

  it("parses ISO timestamps with offsets and fractions, rejects impossible dates", () => {
    assert.strictEqual(parseIsoTimestamp("2024-01-01T01:00:00+01:00"), Date.UTC(2024, 0, 1, 0, 0, 0))
    assert.strictEqual(parseIsoTimestamp("2024-01-01T00:00:00.5-0230"), Date.UTC(2024, 0, 1, 2, 30, 0, 500))
    assert.strictEqual(parseIsoTimestamp("2024-01-01 12:00:00Z"), Date.UTC(2024, 0, 1, 12))
    assert.isUndefined(parseIsoTimestamp("2023-02-29T00:00:00Z"))
    assert.isUndefined(parseIsoTimestamp("2024-01-01T24:00:00Z"))
    assert.isUndefined(parseIsoTimestamp("2024-01-01"))
  })

  it("is exact to the cent: cents in, decimal text out", () => {
    assert.strictEqual(toCents(19.99), 1999)
    assert.strictEqual(toCents(0.3), 30)
    assert.strictEqual(toCents(0.1 + 0.2), undefined) // 0.30000000000000004: not a 2-decimal amount
    assert.strictEqual(toCents(12), 1200)
    assert.strictEqual(toCents(1e-3), undefined)
    assert.strictEqual(toCents(1234567890.12), 123456789012)
    assert.strictEqual(formatCents(5), "0.05")
    assert.strictEqual(formatCents(-1999), "-19.99")
    assert.strictEqual(formatCents(123456789012n), "1234567890.12")
    assert.strictEqual(parseCents("1234567890.12"), 123456789012n)
    assert.strictEqual(parseCents("7.5"), 750n)
    assert.strictEqual(parseCents("-0.01"), -1n)
  })

  it("counts failed, declined, rejected and error payments as failures", () => {
    for (const s of ["failed", "FAILED", "declined", "rejected", "error"]) assert.isTrue(isFailedPayment(s))
    for (const s of ["completed", "pending", "refunded"]) assert.isFalse(isFailedPayment(s))
  })
})

describe("sales aggregates", () => {
  it("sums per UTC day and category, day and month exactly, where float sums drift", () => {
    // 1000 × 0.10 plus 1000 × 0.20: a float sum gives 300.0000000000... (drift); cents give 300.00 exactly.
    const rows = [
      ...Array.from(
        { length: 1_000 },
        (_, i) => ({ ...row("2024-01-31T23:59:59.999Z", "Toys", 10), transactionId: `a${i}` })
      ),
      ...Array.from(
        { length: 1_000 },
        (_, i) => ({ ...row("2024-02-01T00:00:00Z", "Toys", 20), transactionId: `b${i}` })
      ),
      row("2024-02-01T10:00:00+02:00", "Books", 1),
      row("2024-12-31T23:00:00-02:00", "Books", 999_999_999_999)
    ]
    let floats = 0
    for (const r of rows.slice(0, 2_000)) floats += r.totalAmountCents / 100
    assert.notStrictEqual(floats, 300)

    const a = addSales(emptySalesAggregates(), rows)
    assert.deepStrictEqual(
      Object.fromEntries([...a.perCategory].map(([k, v]) => [k, formatCents(v)])),
      {
        "2024-01-31|Toys": "100.00",
        "2024-02-01|Toys": "200.00",
        "2024-02-01|Books": "0.01",
        "2025-01-01|Books": "9999999999.99"
      }
    )
    assert.deepStrictEqual(Object.fromEntries([...a.perDay].map(([k, v]) => [k, formatCents(v)])), {
      "2024-01-31": "100.00",
      "2024-02-01": "200.01",
      "2025-01-01": "9999999999.99"
    })
    assert.deepStrictEqual(Object.fromEntries([...a.perMonth].map(([k, v]) => [k, formatCents(v)])), {
      "2024-1": "100.00",
      "2024-2": "200.01",
      "2025-1": "9999999999.99"
    })
  })
})

describe("ecommerce simulator", () => {
  it("is deterministic per seed, valid, and totalAmount = price × quantity to the cent", () => {
    const a = new EcommerceSimulator(7).batch(500, Date.UTC(2024, 0, 1))
    const b = new EcommerceSimulator(7).batch(500, Date.UTC(2024, 0, 1))
    assert.deepStrictEqual(a, b)
    const { malformed, valid } = decodeEcommerce(a.map((r, i) => record(r.value, i)))
    assert.strictEqual(malformed.length, 0)
    for (const { value } of valid) {
      assert.strictEqual(value.totalAmountCents, value.productPriceCents * value.productQuantity)
    }
    assert.isAbove(valid.filter((v) => isFailedPayment(v.value.paymentStatus)).length, 10)
    assert.strictEqual(new Set(valid.map((v) => v.value.transactionId)).size, 500)
  })

  it("mixes in malformed records that the decoder rejects, and only those", () => {
    const records = new EcommerceSimulator(3, 0.2).batch(1_000, Date.UTC(2024, 0, 1))
    const { malformed, valid } = decodeEcommerce(records.map((r, i) => record(r.value, i)))
    assert.strictEqual(malformed.length, records.filter((r) => r.malformed).length)
    assert.strictEqual(valid.length, records.filter((r) => !r.malformed).length)
    assert.isAbove(malformed.length, 100)
  })
})
