/**
 * The runner under virtual time (TestClock), once per output kind: commits follow acknowledgements
 * (coalesced to one a second where Kafka commits are only bookkeeping), transient failures back off
 * with jitter and lose nothing, permanent ones are handed back at once, and windowed jobs close
 * windows from processing time when a partition stays quiet.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Data, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { deadLetterSettings } from "../../src/config/PipelineConfig.ts"
import { ItemsRejected } from "../../src/domain/ItemsRejected.ts"
import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaError } from "../../src/kafka/KafkaError.ts"
import type { CommitOffset } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { jsonBatchDecoder } from "../../src/runner/BatchDecoder.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { type Output, statelessJob, windowedJob } from "../../src/runner/Job.ts"
import { runJob } from "../../src/runner/PipelineRunner.ts"
import type { FailureKind } from "../../src/shared/Retry.ts"
import { Aggregator, makeWindowEngine, tumbling } from "../../src/window/index.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const topic = "readings"
const groupId = "runner-test"
const deadLetters = settingsFrom(deadLetterSettings)
const Reading = Schema.Struct({ id: Schema.String, at: Schema.Number })
type Reading = typeof Reading.Type
const decode = jsonBatchDecoder(Reading)

class SinkDown extends Data.TaggedError("SinkDown")<{ readonly transient: boolean }> {}
/** The data is at fault, without saying which item (as a failed SQL batch): the runner must bisect. */
class SinkRefuses extends Data.TaggedError("SinkRefuses")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** A sink the tests steer: fail the next N writes (transient or not), and see what was written when. */
class ScriptedSink {
  failNext = 0
  failPermanently = false
  readonly attempts: Array<number> = []
  readonly written: Array<string> = []
  /** The stored-offsets kind: offsets kept with the rows, as PostgreSQL does. */
  readonly stored = new Map<number, string>()
  /** Ids the sink cannot store; named by index (ItemsRejected) or not (SinkRefuses). */
  readonly refused = new Set<string>()
  nameRefused = false

  write = (ids: ReadonlyArray<string>, offset?: CommitOffset) =>
    Effect.gen({ self: this }, function*() {
      this.attempts.push(yield* Clock.currentTimeMillis)
      if (this.failPermanently) return yield* new SinkDown({ transient: false })
      const refused = ids.flatMap((
        id,
        index
      ) => (this.refused.has(id) ? [{ index, reason: `cannot store ${id}` }] : []))
      if (refused.length > 0) {
        return yield* (this.nameRefused
          ? new ItemsRejected({ items: refused })
          : new SinkRefuses({ reason: "bad data" }))
      }
      if (this.failNext > 0) {
        this.failNext--
        return yield* new SinkDown({ transient: true })
      }
      this.written.push(...ids)
      if (offset !== undefined) this.stored.set(offset.partition, offset.offset)
      return ids.map((id) => ({ id }))
    })
}

const classify = (e: SinkDown | SinkRefuses | ItemsRejected): FailureKind =>
  e._tag === "SinkDown" ? (e.transient ? "transient" : "permanent") : "rejected"

interface Kind {
  readonly name: "AtLeastOnce" | "StoredOffsets" | "KafkaTransaction"
  readonly output: (sink: ScriptedSink) => Output<string, SinkDown | SinkRefuses | ItemsRejected, never>
  /** Kafka commits are coalesced (once a second) for this kind; a transaction commits with each output. */
  readonly coalesced: boolean
  /** Whether a write can fail permanently (a Kafka transaction's failures are all transport failures). */
  readonly permanent: boolean
}

const kinds: ReadonlyArray<Kind> = [
  {
    name: "AtLeastOnce",
    output: (sink) => ({ _tag: "AtLeastOnce", classify, write: (ids) => sink.write(ids) }),
    coalesced: true,
    permanent: true
  },
  {
    name: "StoredOffsets",
    output: (sink) => ({
      _tag: "StoredOffsets",
      classify,
      startOffsets: (partitions) =>
        Effect.succeed(partitions.flatMap((p) => {
          const offset = sink.stored.get(p.partition)
          return offset === undefined ? [] : [{ ...p, offset }]
        })),
      write: (ids, offset) => sink.write(ids, offset)
    }),
    coalesced: true,
    permanent: true
  },
  {
    name: "KafkaTransaction",
    output: () => ({
      _tag: "KafkaTransaction",
      transactionalId: "runner-test-tx",
      toRecords: (ids) => ({ records: ids.map((id) => ({ topic: "out", key: id, value: id })), rows: [] })
    }),
    coalesced: false,
    permanent: false
  }
]

/** The in-memory broker, whose transactional producer fails while `sink.failNext` > 0 (like a broker outage). */
const brokerLayer = (sink: ScriptedSink) => {
  const failingTransactions = Layer.effect(
    KafkaSink,
    Effect.map(InMemoryBroker, (broker) => {
      const real = broker.sink()
      return KafkaSink.of({
        ...real,
        transactional: (id) =>
          Effect.map(real.transactional(id), (producer) => ({
            sendAndCommit: (records, commit) =>
              Effect.suspend(() =>
                sink.write([]).pipe(
                  Effect.mapError((e) => new KafkaError({ operation: "EndTxn", message: e._tag })),
                  Effect.andThen(producer.sendAndCommit(records, commit))
                )
              )
          }))
      })
    })
  )
  return Layer.mergeAll(PipelineRegistry.layer, failingTransactions).pipe(
    Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 1 }))
  )
}

const readings = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    topic,
    key: "k",
    value: JSON.stringify({ id: `r${from + i}`, at: (from + i) * 1_000 })
  }))

const statelessRun = (kind: Kind, sink: ScriptedSink) =>
  runJob(statelessJob({
    name: "runner-test",
    source: { groupId, topics: [topic], deadLetters },
    decode,
    map: (r: Reading) => r.id,
    output: kind.output(sink)
  }))

/** Lets the forked job take what is waiting, without moving the clock much. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

/** Offset committed to Kafka (`AtLeastOnce`, `KafkaTransaction`) or stored with the rows (`StoredOffsets`). */
const safeOffset = (kind: Kind, sink: ScriptedSink) =>
  Effect.map(InMemoryBroker, (broker) =>
    kind.name === "StoredOffsets"
      ? sink.stored.get(0)
      : broker.committed(groupId, { topic, partition: 0 })?.offset)

const kafkaCommits = Effect.flatMap(
  PipelineRegistry,
  (r) => Effect.map(r.all, (all) => all.find((s) => s.name === "runner-test")?.commits ?? 0)
)

for (const kind of kinds) {
  describe(`runner, ${kind.name} output (TestClock)`, () => {
    it.effect("commits only what was acknowledged; Kafka commits at most once a second", () => {
      const sink = new ScriptedSink()
      return Effect.gen(function*() {
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
        yield* (yield* KafkaSink).send(readings(0, 10))
        const fiber = yield* Effect.forkChild(statelessRun(kind, sink))
        yield* settle
        if (kind.name !== "KafkaTransaction") assert.strictEqual(sink.written.length, 10)
        // The transaction commits with its output; the others wait for the first whole second.
        assert.strictEqual(
          yield* safeOffset(kind, sink),
          kind.coalesced && kind.name !== "StoredOffsets" ? undefined : "10"
        )
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* safeOffset(kind, sink), "10")
        const commitsAfterFirst = yield* kafkaCommits

        // Three more batches inside the same second: acknowledged, but one Kafka commit at most.
        for (let i = 0; i < 3; i++) {
          yield* (yield* KafkaSink).send(readings(10 + i * 5, 5))
          yield* settle
          yield* TestClock.adjust("100 millis")
        }
        const commitsWithinSecond = (yield* kafkaCommits) - commitsAfterFirst
        if (kind.coalesced) assert.strictEqual(commitsWithinSecond, 0)
        else assert.strictEqual(commitsWithinSecond, 3, "one transaction per output, no coalescing")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* safeOffset(kind, sink), "25")
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(brokerLayer(sink)))
    })

    it.effect("retries a transient failure with jittered backoff, then commits; nothing is lost", () => {
      const sink = new ScriptedSink()
      sink.failNext = 2
      return Effect.gen(function*() {
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
        yield* (yield* KafkaSink).send(readings(0, 4))
        const fiber = yield* Effect.forkChild(statelessRun(kind, sink))
        // Step virtual time until the third attempt succeeded (bounded: 5 s of virtual time).
        for (let i = 0; i < 100 && sink.attempts.length < 3; i++) {
          yield* settle
          yield* TestClock.adjust("50 millis")
        }
        assert.strictEqual(sink.attempts.length, 3)
        const [first, second, third] = sink.attempts as [number, number, number]
        // Exponential from 200 ms (×1.5), each delay scaled by a random factor in [0.8, 1.2].
        assert.isAtLeast(second - first, 160)
        assert.isAtMost(second - first, 240 + 50)
        assert.isAtLeast(third - second, 240)
        assert.isAtMost(third - second, 360 + 50)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(yield* safeOffset(kind, sink), "4")
        if (kind.name === "KafkaTransaction") {
          const out = (yield* InMemoryBroker).read("out").flat().map((r) => r.value?.toString())
          assert.deepStrictEqual(out, ["r0", "r1", "r2", "r3"])
        } else assert.deepStrictEqual(sink.written, ["r0", "r1", "r2", "r3"])
        assert.isUndefined(fiber.pollUnsafe(), "still running")
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(brokerLayer(sink)))
    })

    if (kind.permanent) {
      it.effect("hands a permanent failure back at once: one attempt, nothing committed", () => {
        const sink = new ScriptedSink()
        sink.failPermanently = true
        return Effect.gen(function*() {
          yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
          yield* (yield* KafkaSink).send(readings(0, 3))
          const fiber = yield* Effect.forkChild(statelessRun(kind, sink))
          yield* settle
          yield* TestClock.adjust("10 seconds")
          const exit = yield* Fiber.await(fiber)
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(sink.attempts.length, 1)
          assert.strictEqual(yield* safeOffset(kind, sink), undefined)
        }).pipe(Effect.provide(brokerLayer(sink)))
      })
    }

    if (kind.permanent) {
      for (const named of [false, true]) {
        it.effect(
          `records the sink rejects are dead-lettered, the rest written, offsets move past both (${
            named ? "sink names them" : "found by bisecting"
          })`,
          () => {
            const sink = new ScriptedSink()
            sink.refused.add("r3").add("r7")
            sink.nameRefused = named
            return Effect.gen(function*() {
              yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
              yield* (yield* KafkaSink).send(readings(0, 10))
              const fiber = yield* Effect.forkChild(statelessRun(kind, sink))
              yield* settle
              yield* TestClock.adjust("1 second")
              assert.deepStrictEqual(sink.written, ["r0", "r1", "r2", "r4", "r5", "r6", "r8", "r9"])
              const dead = (yield* InMemoryBroker).read(`${topic}.dlq`).flat()
              assert.deepStrictEqual(dead.map((r) => JSON.parse(r.value!.toString()).id), ["r3", "r7"])
              for (const r of dead) {
                assert.include(r.headers[DeadLetterHeaders.reason]?.toString(), "rejected by the sink")
              }
              assert.strictEqual(yield* safeOffset(kind, sink), "10")
              assert.isUndefined(fiber.pollUnsafe(), "still running")
              yield* Fiber.interrupt(fiber)
            }).pipe(Effect.provide(brokerLayer(sink)))
          }
        )
      }
    }

    if (kind.name === "StoredOffsets") {
      it.effect("a batch of only malformed records still moves the stored offset past it", () => {
        const sink = new ScriptedSink()
        return Effect.gen(function*() {
          yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
          yield* (yield* KafkaSink).send(Array.from({ length: 3 }, () => ({ topic, key: "k", value: "not json" })))
          const fiber = yield* Effect.forkChild(statelessRun(kind, sink))
          yield* settle
          assert.deepStrictEqual(sink.written, [])
          assert.strictEqual(yield* safeOffset(kind, sink), "3", "stored with no rows")
          assert.strictEqual((yield* InMemoryBroker).read(`${topic}.dlq`).flat().length, 3)
          yield* Fiber.interrupt(fiber)
        }).pipe(Effect.provide(brokerLayer(sink)))
      })
    }

    /** A windowed job on partitions 0 and 1, counting per minute; `fired` lists "start:count". */
    const countingJob = (sink: ScriptedSink, fired: Array<string>) => {
      const output = kind.output(sink)
      return windowedJob({
        name: "runner-test",
        source: { groupId, topics: [topic], deadLetters },
        decode,
        windows: {
          engine: makeWindowEngine<string, number, number, number>({
            assigner: tumbling(60_000),
            aggregator: Aggregator.count,
            outOfOrdernessMs: 0,
            idleTimeoutMs: 5_000
          }),
          toWindowRecord: (r: Reading, record) => ({
            offset: Number(record.offset),
            eventTime: r.at,
            key: "all",
            value: 1
          })
        },
        output: output._tag === "KafkaTransaction"
          ? {
            ...output,
            toRecords: (windows) => {
              for (const w of windows) fired.push(`${w.window.start}:${w.result}`)
              return { records: [], rows: [] }
            }
          }
          : {
            _tag: "AtLeastOnce",
            write: (windows) =>
              Effect.sync(() => {
                for (const w of windows) fired.push(`${w.window.start}:${w.result}`)
                return []
              })
          }
      })
    }

    /** Partition 0: event times 0..70 s; partition 1: one record at 0 s, then quiet. */
    const busyAndQuietPartitions = Effect.gen(function*() {
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
      yield* (yield* KafkaSink).send([
        ...readings(0, 71).map((r) => ({ ...r, partition: 0 })),
        ...readings(0, 1).map((r) => ({ ...r, partition: 1 }))
      ])
    })

    it.effect("a quiet partition holds windows back only until its idle timeout (processing time)", () => {
      const sink = new ScriptedSink()
      const fired: Array<string> = []
      return Effect.gen(function*() {
        yield* busyAndQuietPartitions
        const fiber = yield* Effect.forkChild(runJob(countingJob(sink, fired)))
        yield* settle
        yield* TestClock.adjust("4 seconds")
        yield* settle
        assert.deepStrictEqual(fired, [], "partition 1 is not idle yet: the watermark waits for it")
        yield* TestClock.adjust("2 seconds")
        yield* settle
        // Windows are per partition: partition 1's first minute closes with partition 0's.
        assert.deepStrictEqual(fired.toSorted(), ["0:1", "0:60"], "idle after 5 s: the first minute closes")
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(brokerLayer(sink)))
    })

    it.effect("a partition idle at its checkpoint, with nothing new after a restart, is idle at once", () => {
      const sink = new ScriptedSink()
      const fired: Array<string> = []
      return Effect.gen(function*() {
        yield* busyAndQuietPartitions
        const first = yield* Effect.forkChild(Effect.scoped(runJob(countingJob(sink, fired))))
        yield* settle
        yield* TestClock.adjust("6 seconds")
        yield* settle
        assert.deepStrictEqual(fired.toSorted(), ["0:1", "0:60"], "partition 1 went idle")
        yield* TestClock.adjust("2 seconds") // a tick checkpoints the change, the next commit stores it
        yield* settle
        yield* Fiber.interrupt(first)

        // Restarted: partition 1 has nothing new, so it does not hold partition 0's windows back.
        yield* (yield* KafkaSink).send(readings(130, 1).map((r) => ({ ...r, partition: 0 })))
        const second = yield* Effect.forkChild(Effect.scoped(runJob(countingJob(sink, fired))))
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.includeMembers(fired, ["60000:11"], "the second minute closed without another idle timeout")
        yield* Fiber.interrupt(second)
      }).pipe(Effect.provide(brokerLayer(sink)))
    })

    it.effect("a partition active at its checkpoint holds windows back after a restart until its idle timeout", () => {
      const sink = new ScriptedSink()
      const fired: Array<string> = []
      return Effect.gen(function*() {
        yield* busyAndQuietPartitions
        const first = yield* Effect.forkChild(Effect.scoped(runJob(countingJob(sink, fired))))
        yield* settle
        yield* TestClock.adjust("2 seconds") // commits with both partitions active
        yield* settle
        yield* Fiber.interrupt(first)
        assert.deepStrictEqual(fired, [])

        yield* (yield* KafkaSink).send(readings(130, 1).map((r) => ({ ...r, partition: 0 })))
        const second = yield* Effect.forkChild(Effect.scoped(runJob(countingJob(sink, fired))))
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.deepStrictEqual(fired, [], "partition 1 was active: it holds the watermark as before")
        yield* TestClock.adjust("5 seconds")
        yield* settle
        assert.includeMembers(fired, ["0:60", "60000:11"], "until its idle timeout")
        yield* Fiber.interrupt(second)
      }).pipe(Effect.provide(brokerLayer(sink)))
    })
  })
}

describe("runner, event-time sanity (TestClock)", () => {
  it.effect("an event time far ahead of the clock is dead-lettered and never moves the watermark", () => {
    const sink = new ScriptedSink()
    const fired: Array<string> = []
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
      // 0..70 s, then one record dated two hours ahead of the (virtual) clock, then 71 s.
      const future = { topic, key: "k", value: JSON.stringify({ id: "future", at: 2 * 3_600_000 }) }
      yield* (yield* KafkaSink).send([...readings(0, 71), future, ...readings(71, 1)])
      const fiber = yield* Effect.forkChild(runJob(windowedJob({
        name: "runner-test",
        source: { groupId, topics: [topic], deadLetters },
        decode,
        windows: {
          engine: makeWindowEngine<string, number, number, number>({
            assigner: tumbling(60_000),
            aggregator: Aggregator.count,
            outOfOrdernessMs: 0
          }),
          toWindowRecord: (r: Reading, record) => ({
            offset: Number(record.offset),
            eventTime: r.at,
            key: "all",
            value: 1
          })
        },
        output: {
          _tag: "AtLeastOnce",
          write: (windows) =>
            Effect.sync(() => {
              for (const w of windows) fired.push(`${w.window.start}:${w.result}`)
              return []
            })
        }
      })))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      // Only the first minute closed (watermark 71 s): the future record did not close the second.
      assert.deepStrictEqual(fired, ["0:60"])
      const dead = (yield* InMemoryBroker).read(`${topic}.dlq`).flat()
      assert.deepStrictEqual(dead.map((r) => JSON.parse(r.value!.toString()).id), ["future"])
      assert.include(dead[0]!.headers[DeadLetterHeaders.reason]?.toString(), "MAX_FUTURE_SKEW_SECONDS")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(brokerLayer(sink)))
  })

  it.effect("a Kafka output record larger than OUTPUT_MAX_RECORD_BYTES is dead-lettered as a prefix; the rest written", () => {
    const sink = new ScriptedSink()
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
      yield* (yield* KafkaSink).send(readings(0, 3))
      const fiber = yield* Effect.forkChild(runJob(statelessJob({
        name: "runner-test",
        source: { groupId, topics: [topic], deadLetters },
        decode,
        map: (r: Reading) => r.id,
        output: {
          _tag: "KafkaTransaction",
          transactionalId: "runner-test-tx",
          // r1's output is 2 MB: the broker would refuse it on every retry.
          toRecords: (ids) => ({
            records: ids.map((id) => ({ topic: "out", key: id, value: id === "r1" ? "x".repeat(2_000_000) : id })),
            rows: []
          })
        }
      })))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      const broker = yield* InMemoryBroker
      assert.deepStrictEqual(broker.read("out").flat().map((r) => r.value?.toString()), ["r0", "r2"])
      const dead = broker.read(`${topic}.dlq`).flat()
      assert.strictEqual(dead.length, 1)
      assert.strictEqual(dead[0]!.key?.toString(), "r1")
      assert.strictEqual(dead[0]!.value?.toString(), "x".repeat(1_024), "a prefix of the output")
      assert.strictEqual(dead[0]!.headers[DeadLetterHeaders.truncated]?.toString(), "2000000")
      assert.include(dead[0]!.headers[DeadLetterHeaders.reason]?.toString(), "OUTPUT_MAX_RECORD_BYTES")
      assert.strictEqual(yield* safeOffset(kinds[2]!, sink), "3")
      assert.isUndefined(fiber.pollUnsafe(), "still running")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(brokerLayer(sink)))
  })
})

describe("runner, a transaction the group refuses for a partition still owned (cooperative rebalancing)", () => {
  /** The in-memory broker, whose first `refusals` transactions with offsets are refused as the coordinator
   * refuses a generation that moved on while they were in flight (the partitions stayed with the member). */
  const refusingLayer = (refusals: { left: number }) =>
    Layer.mergeAll(
      PipelineRegistry.layer,
      Layer.effect(
        KafkaSink,
        Effect.map(InMemoryBroker, (broker) => {
          const real = broker.sink()
          return KafkaSink.of({
            ...real,
            transactional: (id) =>
              Effect.map(real.transactional(id), (producer) => ({
                sendAndCommit: (records, commit) =>
                  commit.offsets.length > 0 && refusals.left > 0
                    ? Effect.sync(() => (refusals.left--, "stale" as const))
                    : producer.sendAndCommit(records, commit)
              }))
          })
        })
      )
    ).pipe(Layer.provideMerge(InMemoryBroker.layerWithKafka({ defaultPartitions: 1 })))

  it.effect("the partition is read again from its checkpoint: every window comes out once, none lost", () => {
    const refusals = { left: 2 }
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
      // Event times 0..189 s: three whole minutes close.
      yield* (yield* KafkaSink).send(readings(0, 190))
      const fiber = yield* Effect.forkChild(runJob(windowedJob({
        name: "runner-test",
        source: { groupId, topics: [topic], deadLetters },
        decode,
        windows: {
          engine: makeWindowEngine<string, number, number, number>({
            assigner: tumbling(60_000),
            aggregator: Aggregator.count,
            outOfOrdernessMs: 0,
            idleTimeoutMs: 5_000
          }),
          toWindowRecord: (r: Reading, record) => ({
            offset: Number(record.offset),
            eventTime: r.at,
            key: "all",
            value: 1
          })
        },
        output: {
          _tag: "KafkaTransaction",
          transactionalId: "runner-test-tx",
          toRecords: (windows) => ({
            records: windows.map((w) => ({ topic: "out", key: "all", value: `${w.window.start}:${w.result}` })),
            rows: []
          })
        }
      })))
      for (let i = 0; i < 20; i++) {
        yield* settle
        yield* TestClock.adjust("100 millis")
      }
      assert.strictEqual(refusals.left, 0, "both refusals happened")
      const out = (yield* InMemoryBroker).read("out").flat().map((r) => r.value?.toString())
      assert.deepStrictEqual(out, ["0:60", "60000:60", "120000:60"])
      assert.isUndefined(fiber.pollUnsafe(), "still running")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(refusingLayer(refusals)))
  })
})
