/**
 * A member whose sink is slow when another joins (platformatic source, cooperative rebalancing): the
 * joiner gets its partitions within the rebalance timeout, and the partitions that move are written by
 * one member at a time. The old owner finishes (or skips) what it read from them before the group
 * hands them over, so its writes for a partition all end before the new owner's first one starts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema } from "effect"
import { deadLetterSettings } from "../../src/config/PipelineConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { jsonBatchDecoder } from "../../src/runner/BatchDecoder.ts"
import { statelessJob } from "../../src/runner/Job.ts"
import { runJob } from "../../src/runner/PipelineRunner.ts"
import { platformaticKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const PARTITIONS = 4
/** Each write of the slow sink takes this long. */
const WRITE_MS = 4_000

const Entry = Schema.Struct({ id: Schema.Number, partition: Schema.Number })

interface Write {
  readonly member: string
  readonly partitions: ReadonlySet<number>
  readonly start: number
  readonly end: number
}

describe("a slow sink during a rebalance", () => {
  it.live(
    "the joiner gets partitions within the rebalance timeout; a moved partition's writes never overlap between members",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("slow-join")
        const groupId = uniqueName("slow-join-group")
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: PARTITIONS }])
        const writes: Array<Write> = []
        const job = (member: string) =>
          statelessJob({
            name: `slow-${member}`,
            source: { groupId, topics: [topic], deadLetters: settingsFrom(deadLetterSettings) },
            decode: jsonBatchDecoder(Entry),
            map: (e: typeof Entry.Type) => e,
            output: {
              _tag: "AtLeastOnce",
              write: (entries: ReadonlyArray<typeof Entry.Type>) =>
                Effect.gen(function*() {
                  const start = Date.now()
                  yield* Effect.sleep(WRITE_MS)
                  writes.push({ member, partitions: new Set(entries.map((e) => e.partition)), start, end: Date.now() })
                  return []
                })
            }
          })
        // Each member with its own consumer, as two processes would have.
        const member = (name: string) =>
          runJob(job(name)).pipe(
            Effect.scoped,
            Effect.provide(Layer.mergeAll(platformaticKafkaLayer(), PipelineRegistry.layer)),
            Effect.forkScoped
          )

        // The feed: 40 records a partition every 100 ms, for the whole test.
        const sink = yield* KafkaSink
        let id = 0
        yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
          yield* sink.send(Array.from({ length: PARTITIONS * 40 }, (_, i) => {
            const partition = i % PARTITIONS
            return { topic, partition, value: JSON.stringify({ id: id++, partition }) }
          }))
          yield* Effect.sleep("100 millis")
        })))

        const a = yield* member("a")
        yield* waitUntil("a's first writes", () => writes.filter((w) => w.member === "a").length >= 3, 60_000)
        const joinedAt = Date.now()
        const b = yield* member("b")
        yield* waitUntil("b's first write", () => writes.some((w) => w.member === "b"), 60_000)
        const firstOfB = Math.min(...writes.filter((w) => w.member === "b").map((w) => w.start))
        // A few more writes on both sides after the move.
        yield* Effect.sleep(`${2 * WRITE_MS} millis`)
        yield* Fiber.interrupt(b)
        yield* Fiber.interrupt(a)

        console.log(`[slow-join] b's first write ${((firstOfB - joinedAt) / 1_000).toFixed(1)} s after it started`)
        assert.isBelow(firstOfB - joinedAt, 30_000, "within the rebalance timeout (60 s), and well inside it")
        const ofB = new Set(writes.filter((w) => w.member === "b").flatMap((w) => [...w.partitions]))
        assert.isAbove(ofB.size, 0)
        for (const p of ofB) {
          const lastOfA = Math.max(...writes.filter((w) => w.member === "a" && w.partitions.has(p)).map((w) => w.end))
          const firstB = Math.min(...writes.filter((w) => w.member === "b" && w.partitions.has(p)).map((w) => w.start))
          console.log(`[slow-join] p${p}: a's last write ended ${lastOfA - firstB} ms after b's first began`)
          assert.isAtMost(lastOfA, firstB, `p${p}: a wrote it after b had it`)
        }
        // a kept the partitions b did not take, and went on writing them.
        assert.isTrue(
          writes.some((w) => w.member === "a" && w.start > firstOfB && [...w.partitions].some((p) => !ofB.has(p)))
        )
      }).pipe(Effect.scoped, Effect.provide(platformaticKafkaLayer())),
    180_000
  )
})

const waitUntil = (what: string, check: () => boolean, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("100 millis")
    }
  })
