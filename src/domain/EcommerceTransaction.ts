import { Schema } from "effect"
import { NonEmptyText } from "./Text.ts"

/**
 * Seed 002: an e-commerce transaction as the generator publishes it to `financial_transactions`.
 * Money arrives as JSON numbers; it must be exact to the cent, so it is validated to have at most two
 * decimals and carried as integer cents from here on (sums never touch floating point). Text fields
 * must have a UTF-8 form (Text.ts): PostgreSQL and the search engine would store U+FFFD instead.
 */

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

// Date-time with optional fraction (any precision) and optional offset; no offset means UTC, as the
// seed's Python generator wrote `datetime.utcnow()` without one. Date.parse would read that as local time.
const isoPattern = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/i

/** Epoch milliseconds of an ISO 8601 timestamp, or undefined when it is not one (or not a real date). */
export const parseIsoTimestamp = (text: string): number | undefined => {
  const m = isoPattern.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(s)
  const ms = frac === undefined ? 0 : Math.floor(Number(frac.padEnd(3, "0").slice(0, 3)))
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  const check = new Date(utc)
  // Date.UTC rolls 2024-02-30 over to March: reject instead of guessing.
  if (
    check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day ||
    hour > 23 || minute > 59 || second > 59
  ) return undefined
  if (zone === undefined || zone.toUpperCase() === "Z") return utc
  const sign = zone.startsWith("-") ? -1 : 1
  const digits = zone.slice(1).replace(":", "")
  return utc - sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000
}

/**
 * Integer cents of an amount with at most two decimals; undefined otherwise (or beyond 2^53 cents).
 * Read from the number's shortest decimal form, which is exactly the JSON text a producer wrote for a
 * 2-decimal amount ("19.99"), so nothing is rounded: 19.999 or 0.30000000000000004 are rejected.
 */
export const toCents = (amount: number): number | undefined => {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(amount))
  if (m === null) return undefined
  const cents = Number(m[2]) * 100 + Number((m[3] ?? "").padEnd(2, "0"))
  if (!Number.isSafeInteger(cents)) return undefined
  return m[1] === "-" ? -cents : cents
}

/** `1234` -> `"12.34"`: the exact decimal text PostgreSQL's numeric takes. */
export const formatCents = (cents: number | bigint): string => {
  const c = BigInt(cents)
  const negative = c < 0n
  const abs = negative ? -c : c
  const text = `${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}`
  return negative ? `-${text}` : text
}

/** `"12.34"` (as PostgreSQL returns numeric) -> `1234`. */
export const parseCents = (text: string): bigint => {
  const m = /^(-)?(\d+)(?:\.(\d{1,2}))?$/.exec(text.trim())
  if (m === null) throw new Error(`not a decimal amount with at most two decimals: ${text}`)
  const cents = BigInt(m[2]!) * 100n + BigInt((m[3] ?? "0").padEnd(2, "0"))
  return m[1] === undefined ? cents : -cents
}

const Money = Schema.Finite.check(
  Schema.isGreaterThanOrEqualTo(0, { message: "Expected a non-negative amount" }),
  Schema.makeFilter((n: number) => toCents(n) !== undefined || "Expected an amount with at most two decimals")
)

const IsoTimestamp = Schema.String.check(
  Schema.makeFilter((s: string) => parseIsoTimestamp(s) !== undefined || "Expected an ISO 8601 timestamp")
)

export const EcommerceTransaction = Schema.Struct({
  transactionId: Schema.String.check(Schema.isPattern(uuidPattern, { message: "Expected a UUID" })),
  productId: NonEmptyText,
  productName: NonEmptyText,
  productCategory: NonEmptyText,
  productPrice: Money,
  productQuantity: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1, { message: "Expected a quantity of at least 1" })),
  totalAmount: Money,
  productBrand: NonEmptyText,
  currency: Schema.String.check(
    Schema.isPattern(/^[A-Za-z]{3}$/, { message: "Expected a three-letter ISO 4217 currency code" })
  ),
  customerId: NonEmptyText,
  transactionDate: IsoTimestamp,
  paymentMethod: NonEmptyText,
  paymentStatus: NonEmptyText
})
export type EcommerceTransaction = typeof EcommerceTransaction.Type

/** A validated transaction as the sinks store it: money in integer cents, time in epoch ms (UTC). */
export interface EcommerceRow {
  readonly transactionId: string
  readonly productId: string
  readonly productName: string
  readonly productCategory: string
  readonly productPriceCents: number
  readonly productQuantity: number
  readonly totalAmountCents: number
  readonly productBrand: string
  readonly currency: string
  readonly customerId: string
  readonly transactionTime: number
  readonly paymentMethod: string
  readonly paymentStatus: string
}

/** Only called on decoded values, whose amounts and date are known to convert. */
export const toEcommerceRow = (t: EcommerceTransaction): EcommerceRow => ({
  transactionId: t.transactionId.toLowerCase(),
  productId: t.productId,
  productName: t.productName,
  productCategory: t.productCategory,
  productPriceCents: toCents(t.productPrice)!,
  productQuantity: t.productQuantity,
  totalAmountCents: toCents(t.totalAmount)!,
  productBrand: t.productBrand,
  currency: t.currency.toUpperCase(),
  customerId: t.customerId,
  transactionTime: parseIsoTimestamp(t.transactionDate)!,
  paymentMethod: t.paymentMethod,
  paymentStatus: t.paymentStatus
})

/** Payment statuses that count as a failed payment (case-insensitive). */
export const failedPaymentStatuses: ReadonlySet<string> = new Set(["failed", "declined", "rejected", "error"])

export const isFailedPayment = (status: string): boolean => failedPaymentStatuses.has(status.toLowerCase())

// ---------------------------------------------------------------------------------------------
// Sales aggregates, as the PostgreSQL tables hold them. Pure, in integer cents: the reference the
// tests compare the database with, and the in-memory store's implementation.

/** `YYYY-MM-DD` of the UTC day. */
export const utcDate = (epochMs: number): string => new Date(epochMs).toISOString().slice(0, 10)

export interface SalesAggregates {
  /** `${date}|${category}` -> cents */
  readonly perCategory: Map<string, bigint>
  /** date -> cents */
  readonly perDay: Map<string, bigint>
  /** `${year}-${month}` (month 1-12, not padded) -> cents */
  readonly perMonth: Map<string, bigint>
}

export const emptySalesAggregates = (): SalesAggregates => ({
  perCategory: new Map(),
  perDay: new Map(),
  perMonth: new Map()
})

const bump = (m: Map<string, bigint>, key: string, cents: number) => m.set(key, (m.get(key) ?? 0n) + BigInt(cents))

/** Adds rows to the aggregates (mutates and returns them). Callers pass each transaction once. */
export const addSales = (aggregates: SalesAggregates, rows: Iterable<EcommerceRow>): SalesAggregates => {
  for (const r of rows) {
    const date = utcDate(r.transactionTime)
    bump(aggregates.perCategory, `${date}|${r.productCategory}`, r.totalAmountCents)
    bump(aggregates.perDay, date, r.totalAmountCents)
    const d = new Date(r.transactionTime)
    bump(aggregates.perMonth, `${d.getUTCFullYear()}-${d.getUTCMonth() + 1}`, r.totalAmountCents)
  }
  return aggregates
}
