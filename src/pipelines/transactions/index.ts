import { Effect } from "effect"
import { transactionsSettings } from "../../config/PipelineConfig.ts"
import { publishAtRate } from "../../simulator/Publisher.ts"
import { TransactionsSimulator } from "../../simulator/TransactionsSimulator.ts"
import type { PipelineDefinition } from "../PipelineDefinition.ts"
import { runTransactionsPipeline, transactionsFeatureGroup } from "./TransactionsPipeline.ts"

export const transactionsPipeline: PipelineDefinition = {
  name: "transactions",
  input: "transactions",
  description: "JSON transactions → validated, currency upper-cased → Hopsworks stream feature group (seed 000)",
  sourceTopics: Effect.map(transactionsSettings, (s) => [s.topic]),
  run: Effect.flatMap(transactionsSettings, runTransactionsPipeline),
  simulate: (sim) =>
    Effect.gen(function*() {
      const { topic } = yield* transactionsSettings
      const simulator = new TransactionsSimulator(sim.seed, sim.malformedShare)
      return yield* publishAtRate({
        ratePerSecond: sim.ratePerSecond,
        count: sim.count,
        make: (n, now) => simulator.batch(n, now).map((r) => ({ topic, key: r.key, value: r.value }))
      })
    }),
  setup: Effect.gen(function*() {
    const settings = yield* transactionsSettings
    yield* transactionsFeatureGroup(settings)
  })
}
