import { Effect } from "effect"
import type { TransactionsSettings } from "../../config/PipelineConfig.ts"
import { normaliseTransaction, Transaction, transactionFeatures } from "../../domain/Transaction.ts"
import { FeatureStore } from "../../hopsworks/FeatureStore.ts"
import { PipelineRegistry } from "../../observability/PipelineStats.ts"
import { jsonBatchDecoder } from "../shared/JsonDecoder.ts"
import { runStatelessPipeline } from "../shared/StatelessPipeline.ts"

const decodeTransactions = jsonBatchDecoder(Transaction)

/** Creates or retrieves the feature group, and a writer for it. Idempotent (`setup feature-group transactions`). */
export const transactionsFeatureGroup = (settings: TransactionsSettings) =>
  Effect.flatMap(FeatureStore, (store) =>
    store.featureGroup({
      name: settings.featureGroupName,
      version: settings.featureGroupVersion,
      description: "Transactions with normalised currency, streamed by Tributary",
      primaryKey: ["transaction_id"],
      eventTime: "event_time",
      features: transactionFeatures,
      onlineEnabled: true
    }))

/**
 * Seed 000: JSON transactions from Kafka, validated, currency upper-cased, written as Avro to the
 * `transactions` stream feature group (primary key `transaction_id`, event time `event_time`).
 */
export const runTransactionsPipeline = Effect.fn("TransactionsPipeline.run")(function*(settings: TransactionsSettings) {
  const featureGroup = yield* transactionsFeatureGroup(settings)
  const stats = yield* (yield* PipelineRegistry).register("transactions")
  return yield* runStatelessPipeline({
    name: "transactions",
    groupId: settings.groupId,
    topics: [settings.topic],
    deadLetters: settings.deadLetters,
    decode: decodeTransactions,
    topology: {
      stages: ["decode", "validate", "upper-case currency"],
      sinks: [`feature group ${settings.featureGroupName}`, "dead letters"]
    },
    write: (valid) => {
      const rows = valid.map((v) => normaliseTransaction(v.value))
      return Effect.as(featureGroup.write(rows), rows).pipe(
        Effect.tap(() => stats.tallyAll("transactions per category", rows, (r) => r.category)),
        Effect.tap(() => stats.tallyAll("amount per currency", rows, (r) => r.currency, (r) => r.amount))
      )
    }
  })
})
