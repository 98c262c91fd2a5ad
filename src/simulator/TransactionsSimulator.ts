import type { Transaction } from "../domain/Transaction.ts"
import * as Malformed from "./Malformed.ts"
import { SeededRandom } from "./SeededRandom.ts"
import { type SimulatedRecord, simulatedRecord } from "./SimulatedRecord.ts"

const users = Array.from({ length: 50 }, (_, i) => `user_${String(i + 1).padStart(3, "0")}`)
// Mixed case on purpose: the pipeline normalises currencies to upper case.
const currencies = ["USD", "usd", "EUR", "eur", "GBP", "gbp", "Usd", "Eur"]
const categories = ["electronics", "food", "clothing", "travel"]

/** Kinds of malformed input the simulator can mix in, each one the pipeline must dead-letter. */
const malformedKinds: ReadonlyArray<Malformed.Kind<Transaction>> = [
  Malformed.notJson,
  (t) => JSON.stringify({ ...t, amount: -Math.abs(t.amount) }),
  Malformed.withField("currency", "DOLLARS"),
  Malformed.withField("event_time", "yesterday"),
  Malformed.withoutField("user_id")
]

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
    return simulatedRecord(this.random, t.user_id, t, this.malformedShare, malformedKinds)
  }

  batch(count: number, eventTime: number): Array<SimulatedRecord> {
    return Array.from({ length: count }, () => this.next(eventTime))
  }
}
