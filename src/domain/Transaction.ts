import { Schema } from "effect"

/** ISO 4217 style: three letters. Case is normalised after decoding, so `usd` is accepted. */
const CurrencyCode = Schema.String.check(
  Schema.isPattern(/^[A-Za-z]{3}$/, { message: "Expected a three-letter ISO 4217 currency code" })
)

/** A card or account transaction, as the simulator and upstream producers publish it (seed 000). */
export const Transaction = Schema.Struct({
  transaction_id: Schema.NonEmptyString,
  /** Epoch milliseconds, 1970 to 9999 (anything else is a broken producer, and would not fit Avro timestamps). */
  event_time: Schema.Int.check(
    Schema.isBetween({ minimum: 0, maximum: 253_402_300_799_999 }, {
      message: "Expected epoch milliseconds between 1970 and 9999"
    })
  ),
  user_id: Schema.NonEmptyString,
  amount: Schema.Finite.check(Schema.isGreaterThan(0, { message: "Expected a positive amount" })),
  currency: CurrencyCode,
  category: Schema.NonEmptyString
})
export type Transaction = typeof Transaction.Type

/** The row written to the `transactions` feature group: the transaction with its currency upper-cased. */
export const normaliseTransaction = (t: Transaction): Transaction => ({
  transaction_id: t.transaction_id,
  event_time: t.event_time,
  user_id: t.user_id,
  amount: t.amount,
  currency: t.currency.toUpperCase(),
  category: t.category
})

/** Feature group definition (Hive types, as Hopsworks wants them). */
export const transactionFeatures = [
  { name: "transaction_id", type: "string" },
  { name: "event_time", type: "bigint" },
  { name: "user_id", type: "string" },
  { name: "amount", type: "double" },
  { name: "currency", type: "string" },
  { name: "category", type: "string" }
] as const
