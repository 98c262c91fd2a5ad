import type { Transaction } from "../domain/Transaction.ts"
import { SeededRandom } from "./SeededRandom.ts"

const users = Array.from({ length: 50 }, (_, i) => `user_${String(i + 1).padStart(3, "0")}`)
// Mixed case on purpose: the pipeline normalises currencies to upper case.
const currencies = ["USD", "usd", "EUR", "eur", "GBP", "gbp", "Usd", "Eur"]
const categories = ["electronics", "food", "clothing", "travel"]

/** Kinds of malformed input the simulator can mix in, each one the pipeline must dead-letter. */
const malformedKinds = [
  () => "{not json",
  (t: Transaction) => JSON.stringify({ ...t, amount: -Math.abs(t.amount) }),
  (t: Transaction) => JSON.stringify({ ...t, currency: "DOLLARS" }),
  (t: Transaction) => JSON.stringify({ ...t, event_time: "yesterday" }),
  (t: Transaction) => {
    const { user_id: _, ...rest } = t
    return JSON.stringify(rest)
  }
]

export interface SimulatedRecord {
  readonly key: string
  readonly value: string
  /** True when the simulator meant this record to be malformed. */
  readonly malformed: boolean
}

/**
 * The seed's synthetic transactions: 50 users, USD/EUR/GBP in mixed case, 4 categories, amounts
 * 10–500. Deterministic for a seed, so a test can compute what the pipeline must produce.
 */
export class TransactionsSimulator {
  private readonly random: SeededRandom
  private readonly malformedShare: number

  constructor(seed: number, malformedShare = 0) {
    this.random = new SeededRandom(seed)
    this.malformedShare = malformedShare
  }

  transaction(eventTime: number): Transaction {
    const r = this.random
    return {
      transaction_id: r.uuid(),
      event_time: eventTime,
      user_id: r.pick(users),
      amount: Math.round((10 + r.next() * 490) * 100) / 100,
      currency: r.pick(currencies),
      category: r.pick(categories)
    }
  }

  next(eventTime: number): SimulatedRecord {
    const t = this.transaction(eventTime)
    if (this.malformedShare > 0 && this.random.chance(this.malformedShare)) {
      return { key: t.user_id, value: this.random.pick(malformedKinds)(t), malformed: true }
    }
    return { key: t.user_id, value: JSON.stringify(t), malformed: false }
  }

  batch(count: number, eventTime: number): Array<SimulatedRecord> {
    return Array.from({ length: count }, () => this.next(eventTime))
  }
}
