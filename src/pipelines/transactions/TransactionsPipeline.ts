import { Effect } from "effect"
import { type TransactionsSettings, transactionsSettings } from "../../config/PipelineConfig.ts"
import { normaliseTransaction, Transaction, transactionFeatures } from "../../domain/Transaction.ts"
import {
  classifyFeatureGroupWrite,
  definePipeline,
  FeatureStore,
  inputDecoding,
  PipelineRegistry,
  runPipelineWith,
  statelessJob
} from "../../index.ts"
import { TransactionsSimulator } from "../../simulator/TransactionsSimulator.ts"

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
export const transactionsPipeline = definePipeline({
  name: "transactions",
  input: "transactions",
  description: "JSON transactions → validated, currency upper-cased → Hopsworks stream feature group (seed 000)",
  settings: transactionsSettings,
  sourceTopics: (settings) => [settings.topic],
  jobs: (settings) =>
    Effect.gen(function*() {
      const featureGroup = yield* transactionsFeatureGroup(settings)
      const stats = yield* (yield* PipelineRegistry).register("transactions")
      return [statelessJob({
        name: "transactions",
        source: { groupId: settings.groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
        ...(yield* inputDecoding(settings.input, Transaction)),
        map: normaliseTransaction,
        topology: {
          stages: ["decode", "validate", "upper-case currency"],
          sinks: [`feature group ${settings.featureGroupName}`, "dead letters"]
        },
        output: {
          _tag: "AtLeastOnce",
          // Rows upsert by transaction_id: a later batch's write may finish first.
          concurrency: 2,
          // Kafka refusing the credentials stops the pipeline rather than retrying forever.
          classify: classifyFeatureGroupWrite,
          write: (rows) =>
            featureGroup.write(rows).pipe(
              Effect.andThen(stats.tallyAll("transactions per category", rows, (r) => r.category)),
              Effect.andThen(stats.tallyAll("amount per currency", rows, (r) => r.currency, (r) => r.amount)),
              Effect.as(rows)
            )
        }
      })]
    }),
  simulate: (settings, sim) =>
    Effect.sync(() => {
      const simulator = new TransactionsSimulator(sim.seed, sim.malformedShare)
      return { topic: settings.topic, ratePerSecond: sim.ratePerSecond, batch: (n, now) => simulator.batch(n, now) }
    }),
  setup: (settings) => Effect.asVoid(transactionsFeatureGroup(settings))
})

/** Runs the pipeline until interrupted. */
export const runTransactionsPipeline = (settings: TransactionsSettings) =>
  runPipelineWith(transactionsPipeline, settings)
