import { Effect } from "effect"
import { ecommerceSettings } from "../../config/EcommerceConfig.ts"
import { EcommerceSimulator } from "../../simulator/EcommerceSimulator.ts"
import { publishAtRate } from "../../simulator/Publisher.ts"
import type { PipelineDefinition } from "../PipelineDefinition.ts"
import { runEcommercePipeline, setupEcommerce } from "./EcommercePipeline.ts"

export * from "./EcommercePipeline.ts"

export const ecommercePipeline: PipelineDefinition = {
  name: "ecommerce",
  input: "ecommerce",
  description: "Faker e-commerce transactions → PostgreSQL rows + sales aggregates (exactly-once), " +
    "Elasticsearch/OpenSearch documents, failed payments per minute → payment-alerts (seed 002)",
  sourceTopics: Effect.map(ecommerceSettings, (s) => [s.topic]),
  run: Effect.flatMap(ecommerceSettings, runEcommercePipeline),
  simulate: (sim) =>
    Effect.gen(function*() {
      const { topic } = yield* ecommerceSettings
      const simulator = new EcommerceSimulator(sim.seed, sim.malformedShare)
      return yield* publishAtRate({
        ratePerSecond: sim.ratePerSecond,
        count: sim.count,
        make: (n, now) => simulator.batch(n, now).map((r) => ({ topic, key: r.key, value: r.value }))
      })
    }),
  setup: Effect.flatMap(ecommerceSettings, setupEcommerce)
}
