import { cardAggregatesPipeline } from "./card-aggregates/CardAggregatesPipeline.ts"
import { ecommercePipeline } from "./ecommerce/EcommercePipeline.ts"
import { fingerprintPipeline } from "./fingerprint/FingerprintPipeline.ts"
import { transactionsPipeline } from "./transactions/TransactionsPipeline.ts"
import { userEventsPipeline } from "./user-events/UserEventsPipeline.ts"

/** The built-in pipelines, in the order the CLI lists them. The first is the default of `run`. */
export const builtInPipelines = [
  transactionsPipeline,
  cardAggregatesPipeline,
  ecommercePipeline,
  fingerprintPipeline,
  userEventsPipeline
]
