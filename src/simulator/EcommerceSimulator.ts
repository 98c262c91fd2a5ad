import { en, Faker } from "@faker-js/faker"
import type { EcommerceTransaction } from "../domain/EcommerceTransaction.ts"
import * as Malformed from "./Malformed.ts"
import { type Draws, type SimulatedRecord, simulatedRecord } from "./SimulatedRecord.ts"

const brands = ["apple", "samsung", "oneplus", "mi", "boat", "sony", "lenovo", "philips"]
const currencies = ["USD", "EUR", "GBP"]
const paymentMethods = ["credit_card", "debit_card", "online_transfer", "paypal"]
// Mostly successful, a steady trickle of failures for the per-minute alerts.
const paymentStatuses = [
  { weight: 85, value: "completed" },
  { weight: 5, value: "pending" },
  { weight: 7, value: "failed" },
  { weight: 3, value: "declined" }
]

/** Kinds of malformed input the simulator can mix in; each one the pipeline must dead-letter. */
const malformedKinds: ReadonlyArray<Malformed.Kind<EcommerceTransaction>> = [
  Malformed.notJson,
  (t) => JSON.stringify({ ...t, productPrice: -t.productPrice }),
  (t) => JSON.stringify({ ...t, totalAmount: t.totalAmount + 0.001 }),
  Malformed.withField("transactionDate", "yesterday"),
  Malformed.withField("productQuantity", 0),
  Malformed.withoutField("transactionId")
]

/** A generated record (key: the transaction id). */
export type SimulatedEcommerceRecord = SimulatedRecord

/**
 * The seed's generator (Python Faker) in TypeScript: products, prices, quantities, customers and
 * payments from @faker-js/faker, seeded so the same seed gives the same records and a test can
 * compute what the sinks must hold. `totalAmount` is computed in cents, so it is exactly
 * price × quantity rounded to the cent.
 */
export class EcommerceSimulator {
  private readonly faker: Faker
  /** The malformed-record draws, from the same faker (so one seed drives everything). */
  private readonly draws: Draws
  private readonly malformedShare: number

  constructor(seed: number, malformedShare = 0) {
    const faker = new Faker({ locale: [en] })
    faker.seed(seed)
    this.faker = faker
    this.draws = { chance: (p) => faker.number.float() < p, pick: (items) => faker.helpers.arrayElement(items) }
    this.malformedShare = malformedShare
  }

  transaction(eventTime: number): EcommerceTransaction {
    const f = this.faker
    const priceCents = f.number.int({ min: 500, max: 100_000 })
    const quantity = f.number.int({ min: 1, max: 10 })
    return {
      transactionId: f.string.uuid(),
      productId: `product-${f.number.int({ min: 1, max: 500 })}`,
      productName: f.commerce.productName(),
      productCategory: f.commerce.department(),
      productPrice: priceCents / 100,
      productQuantity: quantity,
      totalAmount: (priceCents * quantity) / 100,
      productBrand: f.helpers.arrayElement(brands),
      currency: f.helpers.arrayElement(currencies),
      customerId: f.internet.username(),
      transactionDate: new Date(eventTime).toISOString(),
      paymentMethod: f.helpers.arrayElement(paymentMethods),
      paymentStatus: f.helpers.weightedArrayElement(paymentStatuses)
    }
  }

  next(eventTime: number): SimulatedEcommerceRecord {
    const t = this.transaction(eventTime)
    return simulatedRecord(this.draws, t.transactionId, t, this.malformedShare, malformedKinds)
  }

  batch(count: number, eventTime: number): Array<SimulatedEcommerceRecord> {
    return Array.from({ length: count }, () => this.next(eventTime))
  }
}
