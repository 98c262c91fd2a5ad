import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { cardAggregatesSettings } from "../../src/config/CardAggregatesConfig.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import {
  decodeCardTransactions,
  makeCardAggregatesEngine,
  toCardWindowRecord
} from "../../src/pipelines/card-aggregates/CardAggregatesPipeline.ts"
import { windowedJob } from "../../src/runner/Job.ts"
import { runJob } from "../../src/runner/PipelineRunner.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const BASE = Date.UTC(2025, 0, 1, 12, 0, 0)

const settings = settingsFrom(cardAggregatesSettings, {
  CARD_TRANSACTIONS_TOPIC: "cards",
  CARD_AGGREGATES_GROUP_ID: "windowed-order",
  CARD_FEATURE_GROUP_NAME: "unused",
  OUT_OF_ORDERNESS_SECONDS: 0,
  IDLE_TIMEOUT_SECONDS: 3_600,
  EMIT_EMPTY_WINDOWS: false
})

describe("windowed pipeline output order", () => {
  it.live(
    "a key's windows reach the sink oldest first, even when an earlier write is slower",
    () =>
      Effect.gen(function*() {
        // One partition, small batches: each batch fires windows of the same three cards.
        yield* (yield* KafkaAdmin).createTopics([{ topic: settings.topic, partitions: 1 }])
        const records = Array.from({ length: 1_200 }, (_, i) => ({
          topic: settings.topic,
          key: String(i % 3),
          value: JSON.stringify({ tid: `t${i}`, datetime: BASE + i * 10_000, cc_num: i % 3, amount: i % 17 })
        }))
        yield* (yield* KafkaSink).send(records)

        const written: Array<{ readonly key: number; readonly start: number }> = []
        let writes = 0
        const pipeline = yield* runJob(windowedJob({
          name: "card-aggregates",
          source: { groupId: settings.groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
          decode: decodeCardTransactions,
          windows: { engine: makeCardAggregatesEngine(settings), toWindowRecord: toCardWindowRecord },
          output: {
            _tag: "AtLeastOnce",
            // The first write is slow, later ones fast: overlapping writes would land out of order.
            write: (fired) =>
              Effect.gen(function*() {
                const delay = writes++ % 2 === 0 ? 150 : 0
                yield* Effect.sleep(delay)
                for (const f of fired) written.push({ key: f.key, start: f.window.start })
                return []
              })
          }
        })).pipe(Effect.forkChild)

        // 1,200 records 10 s apart: about 200 minutes, so about 190 closed windows per card.
        while (written.length < 3 * 180) yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(pipeline)
        assert.isAbove(writes, 5, "several writes happened")
        for (const key of [0, 1, 2]) {
          const starts = written.filter((w) => w.key === key).map((w) => w.start)
          assert.deepStrictEqual(starts, starts.toSorted((a, b) => a - b), `card ${key}: windows in order`)
        }
      }).pipe(
        Effect.provide(
          Layer.mergeAll(PipelineRegistry.layer).pipe(
            Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 1, maxBatchSize: 50 }))
          )
        )
      ),
    60_000
  )
})
