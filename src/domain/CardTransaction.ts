import { Schema } from "effect"

/**
 * A credit-card transaction as the seed's `SimProducer` publishes it to `credit_card_transactions`
 * (seed 001). The topic is keyed by `cc_num`, the aggregation key.
 *
 * `cc_num` is a JS number: Java's `long` card numbers (16 digits) are below 2^53, and `Schema.Int`
 * accepts safe integers only, so a 19-digit PAN is rejected (dead-lettered) rather than silently
 * rounded.
 */
export const CardTransaction = Schema.Struct({
  tid: Schema.NonEmptyString,
  /** Event time, epoch milliseconds. */
  datetime: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  cc_num: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Any finite amount: refunds (negative amounts) are transactions too and count in the statistics. */
  amount: Schema.Finite
})
export type CardTransaction = typeof CardTransaction.Type

/**
 * One row of feature group `card_transactions_10m_agg` v1 (primary key `cc_num`, online enabled):
 * the aggregates of one card over one sliding event-time window.
 *
 * Is the window a feature? By default NO: the seed's feature group has exactly the four features
 * below, a feature group's schema is a contract with its readers (feature views, training
 * datasets), and the online store keeps one row per primary key anyway, so a window column would
 * only say how fresh that one row is. `window_start` (epoch ms, Hive bigint) is therefore optional:
 * it is set only when the pipeline runs with CARD_WINDOW_START_FEATURE=true, which creates the
 * feature group with `window_start` as its event-time feature. Use a new feature group version for
 * that: then the offline store (whose materialization de-duplicates by primary key + event time)
 * keeps every window as history for training, not only the newest row per card.
 *
 * The names say "10m" because the seed's feature group fixes them; with another
 * WINDOW_LENGTH_MINUTES they keep their names.
 */
export const CardAggregateRow = Schema.Struct({
  cc_num: Schema.Int,
  window_start: Schema.optionalKey(Schema.Int),
  /** Transactions in the window; 0 once, in the window right after the card's activity stopped. */
  num_trans_per_10m: Schema.Int,
  /** Mean amount; null for an empty window. */
  avg_amt_per_10m: Schema.NullOr(Schema.Finite),
  /** SAMPLE standard deviation (divisor n − 1) of the amounts; null for fewer than two transactions. */
  stdev_amt_per_10m: Schema.NullOr(Schema.Finite)
})
export type CardAggregateRow = typeof CardAggregateRow.Type

/** The seed's feature group schema (Hive types): `cc_num` bigint primary key, then the three aggregates. */
export const cardAggregateFeatures = [
  { name: "cc_num", type: "bigint" },
  { name: "num_trans_per_10m", type: "bigint" },
  { name: "avg_amt_per_10m", type: "double" },
  { name: "stdev_amt_per_10m", type: "double" }
] as const

/** With CARD_WINDOW_START_FEATURE=true: the seed's features plus `window_start` (event time). */
export const cardAggregateFeaturesWithWindow = [
  cardAggregateFeatures[0],
  { name: "window_start", type: "bigint" },
  ...cardAggregateFeatures.slice(1)
] as const
