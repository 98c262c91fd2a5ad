import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { SubscriptionBuffer } from "../../src/kafka/SubscriptionBuffer.ts"

const records = (n: number, from = 0): Array<KafkaRecord> =>
  Array.from({ length: n }, (_, i) => ({
    topic: "t",
    partition: 0,
    offset: String(from + i),
    timestamp: 0,
    key: null,
    value: Buffer.from("v"),
    headers: {}
  }))

describe("SubscriptionBuffer back-pressure", () => {
  it.effect("a batch waiting for room ends with the failure of its wait (a rebalance), and holds no room", () =>
    Effect.gen(function*() {
      const buffer = yield* SubscriptionBuffer.make(10)
      buffer.reassign([{ topic: "t", partition: 0, committedOffset: undefined, committedMetadata: undefined }])
      const epoch = buffer.epochOf({ topic: "t", partition: 0 })
      assert.isTrue(
        yield* Effect.promise(() =>
          buffer.offer({ _tag: "Batch", topic: "t", partition: 0, records: records(8) }, epoch)
        )
      )

      // Full: the next batch waits, calling the heartbeat, which reports a rebalance.
      let heartbeats = 0
      const rebalance = Object.assign(new Error("The group is rebalancing"), { type: "REBALANCE_IN_PROGRESS" })
      const waited = yield* Effect.promise(() =>
        buffer.offer({ _tag: "Batch", topic: "t", partition: 0, records: records(5, 8) }, epoch, async () => {
          heartbeats++
          throw rebalance
        }).then(() => "delivered", (e: unknown) => e)
      )
      assert.strictEqual(waited, rebalance, "the wait ends with the heartbeat's failure")
      assert.strictEqual(heartbeats, 1)
      const sub = buffer.subscription(() => Effect.void)
      assert.strictEqual(yield* sub.bufferedRecords, 8, "the failed batch took no room")
      assert.strictEqual(yield* sub.bufferedBytes, 8)
    }))
})
