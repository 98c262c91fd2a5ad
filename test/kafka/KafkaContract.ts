import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option, Ref, Schedule, Stream } from "effect"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import type { KafkaError } from "../../src/kafka/KafkaError.ts"
import type { KafkaRecord, SourceEvent } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource, type Subscription } from "../../src/kafka/KafkaSource.ts"
import { partitionForKey } from "../../src/kafka/KeyPartitioner.ts"
import { uniqueName } from "../support/TestKafka.ts"

type KafkaServices = KafkaSource | KafkaSink | KafkaAdmin

/** Takes records from a subscription until `n` have arrived (or fails after `timeout`). */
export const takeRecords = (sub: Subscription, n: number, onBatch: Effect.Effect<void> = Effect.void) =>
  sub.events.pipe(
    Stream.filter((e): e is Extract<SourceEvent, { _tag: "Batch" }> => e._tag === "Batch"),
    Stream.tap(() => onBatch),
    Stream.flatMap((b) => Stream.fromIterable(b.records)),
    Stream.take(n),
    Stream.runCollect,
    Effect.timeout("90 seconds")
  )

/** The subscription's first assignment (with the membership transactions commit as). */
const firstAssignment = (sub: Subscription) =>
  sub.events.pipe(
    Stream.filter((e): e is Extract<SourceEvent, { _tag: "Assigned" }> => e._tag === "Assigned"),
    Stream.runHead,
    Effect.map((head) => head.pipe(Option.getOrThrow)),
    Effect.timeout("60 seconds")
  )

const produceNumbered = (topic: string, total: number, chunk = 5_000) =>
  Effect.gen(function*() {
    const sink = yield* KafkaSink
    for (let start = 0; start < total; start += chunk) {
      const records = Array.from({ length: Math.min(chunk, total - start) }, (_, i) => ({
        topic,
        key: `k${(start + i) % 97}`,
        value: String(start + i),
        headers: { seq: String(start + i) }
      }))
      yield* sink.send(records)
    }
  })

const byPartition = (records: ReadonlyArray<KafkaRecord>) => {
  const out = new Map<number, Array<KafkaRecord>>()
  for (const r of records) {
    const list = out.get(r.partition) ?? []
    list.push(r)
    out.set(r.partition, list)
  }
  return out
}

/**
 * One suite, run against every implementation of the Kafka services: the real broker and the
 * in-memory one must behave the same for what pipelines rely on.
 */
export const kafkaContract = (
  name: string,
  layer: (options: { readonly maxBufferedRecords?: number }) => Layer.Layer<KafkaServices, KafkaError | unknown>,
  options: {
    readonly total: number
    /** Transactions commit offsets as a group member, refused once the group moved on (KIP-447). */
    readonly fencesStaleMembers: boolean
    /** A rebalance revokes only the partitions that move (cooperative-sticky). */
    readonly cooperative?: boolean
  }
) =>
  describe(name, () => {
    it.live(
      `${options.total} records come out per partition in order, none missing; a restart resumes at the committed offsets`,
      () =>
        Effect.gen(function*() {
          const topic = uniqueName("contract")
          const groupId = uniqueName("group")
          const admin = yield* KafkaAdmin
          yield* admin.createTopics([{ topic, partitions: 3 }])
          yield* produceNumbered(topic, options.total)
          const source = yield* KafkaSource

          const first = yield* Effect.scoped(Effect.gen(function*() {
            const sub = yield* source.subscribe({ groupId, topics: [topic] })
            const records = yield* takeRecords(sub, options.total)
            // Commit the middle of each partition: everything before it is done, nothing after it.
            const commits = [...byPartition(records)].map(([partition, rs]) => ({
              topic,
              partition,
              offset: rs[Math.floor(rs.length / 2)]!.offset
            }))
            yield* sub.commit(commits)
            return { records, commits }
          }))

          const firstByPartition = byPartition(first.records)
          const values = first.records.map((r) => Number(r.value!.toString()))
          assert.strictEqual(new Set(values).size, options.total, "every record exactly once")
          assert.deepStrictEqual(values.toSorted((a, b) => a - b), Array.from({ length: options.total }, (_, i) => i))
          for (const [, rs] of firstByPartition) {
            rs.forEach((r, i) => assert.strictEqual(r.offset, String(i), "offsets in order from 0"))
            rs.forEach((r) => assert.strictEqual(r.headers["seq"]?.toString(), r.value?.toString()))
            const sent = rs.map((r) => Number(r.value!.toString()))
            assert.deepStrictEqual(sent, sent.toSorted((a, b) => a - b), "send order kept within the partition")
            // Keys land where Java clients would put them (murmur2), whichever client produced them.
            rs.forEach((r) => assert.strictEqual(r.partition, partitionForKey(r.key!, 3), `key ${r.key}`))
          }
          const committed = yield* admin.committedOffsets(groupId, topic)
          assert.deepStrictEqual(
            committed.map((c) => c.offset),
            first.commits.toSorted((a, b) => a.partition - b.partition).map((c) => c.offset)
          )

          const expectedAgain = first.commits.reduce(
            (n, c) => n + (firstByPartition.get(c.partition)!.length - Number(c.offset)),
            0
          )
          const again = yield* Effect.scoped(Effect.gen(function*() {
            const sub = yield* source.subscribe({ groupId, topics: [topic] })
            return yield* takeRecords(sub, expectedAgain)
          }))
          for (const c of first.commits) {
            const offsets = again.filter((r) => r.partition === c.partition).map((r) => Number(r.offset))
            assert.strictEqual(offsets[0], Number(c.offset), `partition ${c.partition} resumes at the committed offset`)
            assert.strictEqual(Math.min(...offsets), Number(c.offset), "nothing before the commit is delivered again")
          }
          assert.strictEqual(again.length, expectedAgain)
        }).pipe(Effect.provide(layer({}))),
      180_000
    )

    it.live("a slow consumer keeps the records buffered in the process under the bound", () =>
      Effect.gen(function*() {
        const topic = uniqueName("slow")
        const bound = 500
        const admin = yield* KafkaAdmin
        yield* admin.createTopics([{ topic, partitions: 2 }])
        yield* produceNumbered(topic, 20_000)
        const source = yield* KafkaSource
        const sub = yield* source.subscribe({
          groupId: uniqueName("slow-group"),
          topics: [topic],
          maxBufferedRecords: bound
        })
        const peak = yield* Ref.make(0)
        const sample = Effect.flatMap(sub.bufferedRecords, (n) => Ref.update(peak, (p) => Math.max(p, n)))
        const records = yield* takeRecords(sub, 5_000, Effect.andThen(Effect.sleep("20 millis"), sample))
        assert.strictEqual(records.length, 5_000)
        const max = yield* Ref.get(peak)
        assert.isAbove(max, 0, "the consumer did fetch ahead")
        assert.isAtMost(max, bound)
      }).pipe(Effect.scoped, Effect.provide(layer({ maxBufferedRecords: 500 }))), 120_000)

    it.live("large records: the bytes buffered in the process stay under the byte bound", () =>
      Effect.gen(function*() {
        const topic = uniqueName("large")
        const bound = 200_000
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
        // 20 KB values: the record bound (10,000) alone would let 200 MB wait.
        const sink = yield* KafkaSink
        for (let start = 0; start < 400; start += 100) {
          yield* sink.send(Array.from({ length: 100 }, (_, i) => ({
            topic,
            key: `k${start + i}`,
            value: String(start + i).padEnd(20_000, ".")
          })))
        }
        const source = yield* KafkaSource
        const sub = yield* source.subscribe({
          groupId: uniqueName("large-group"),
          topics: [topic],
          maxBufferedBytes: bound
        })
        const peak = yield* Ref.make(0)
        const sample = Effect.flatMap(sub.bufferedBytes, (n) => Ref.update(peak, (p) => Math.max(p, n)))
        const records = yield* takeRecords(sub, 300, Effect.andThen(Effect.sleep("10 millis"), sample))
        assert.strictEqual(records.length, 300)
        const max = yield* Ref.get(peak)
        assert.isAbove(max, 0, "the consumer did fetch ahead")
        assert.isAtMost(max, bound)
      }).pipe(Effect.scoped, Effect.provide(layer({}))), 120_000)

    it.live("a transaction writes records and commits the consumed offsets together", () =>
      Effect.gen(function*() {
        const input = uniqueName("tx-in")
        const output = uniqueName("tx-out")
        const groupId = uniqueName("tx-group")
        const admin = yield* KafkaAdmin
        yield* admin.createTopics([{ topic: input, partitions: 1 }, { topic: output, partitions: 1 }])
        const sink = yield* KafkaSink
        const producer = yield* sink.transactional(uniqueName("tx"))
        const source = yield* KafkaSource
        // The offsets are committed as the member the input partition is assigned to.
        const { membership } = yield* firstAssignment(yield* source.subscribe({ groupId, topics: [input] }))
        const outcome = yield* producer.sendAndCommit(
          [{ topic: output, key: "a", value: "1" }, { topic: output, key: "b", value: "2" }],
          { groupId, offsets: [{ topic: input, partition: 0, offset: "7", metadata: "wm=42" }], membership }
        )
        assert.strictEqual(outcome, "committed")
        // Kafka applies a transaction's offsets when its commit markers are written, a moment after commit returns.
        const committed = yield* admin.committedOffsets(groupId, input).pipe(
          Effect.repeat({
            until: (cs) => cs[0]?.offset !== undefined,
            schedule: Schedule.spaced("100 millis"),
            times: 50
          })
        )
        assert.deepStrictEqual(committed.map((c) => [c.offset, c.metadata]), [["7", "wm=42"]])
        const sub = yield* source.subscribe({ groupId: uniqueName("reader"), topics: [output] })
        const records = yield* takeRecords(sub, 2)
        assert.deepStrictEqual(records.map((r) => r.value?.toString()), ["1", "2"])
      }).pipe(Effect.scoped, Effect.provide(layer({}))), 120_000)

    if (options.fencesStaleMembers) {
      it.live("a member whose group moved on has its transaction refused: no output, no offsets", () =>
        Effect.gen(function*() {
          const input = uniqueName("stale-in")
          const output = uniqueName("stale-out")
          const groupId = uniqueName("stale-group")
          const admin = yield* KafkaAdmin
          yield* admin.createTopics([{ topic: input, partitions: 2 }, { topic: output, partitions: 1 }])
          const sink = yield* KafkaSink
          const producer = yield* sink.transactional(uniqueName("stale-tx"))
          const source = yield* KafkaSource
          const first = yield* source.subscribe({ groupId, topics: [input] })
          const { membership } = yield* firstAssignment(first)
          assert.isDefined(membership)
          const firstGeneration = membership!.generationId
          // A second member joins: the group rebalances into a newer generation, and a partition moves.
          const second = yield* source.subscribe({ groupId, topics: [input] })
          const moved = yield* firstAssignment(second)
          assert.isAbove(moved.membership!.generationId, firstGeneration)
          // The first member commits for the partition it lost: refused (by the coordinator, or before).
          const outcome = yield* producer.sendAndCommit([{ topic: output, value: "from the old generation" }], {
            groupId,
            offsets: [{ topic: input, partition: moved.partitions[0]!.partition, offset: "5" }],
            membership
          })
          assert.strictEqual(outcome, "stale")
          // The same producer goes on: a transaction as the current member commits.
          const current = yield* producer.sendAndCommit([{ topic: output, value: "current" }], {
            groupId,
            offsets: [{ topic: input, partition: moved.partitions[0]!.partition, offset: "3" }],
            membership: moved.membership
          })
          assert.strictEqual(current, "committed")
          const reader = yield* source.subscribe({ groupId: uniqueName("stale-reader"), topics: [output] })
          const records = yield* takeRecords(reader, 1)
          assert.deepStrictEqual(
            records.map((r) =>
              r.value?.toString()
            ),
            ["current"]
          )
          const committed = yield* admin.committedOffsets(groupId, input).pipe(
            Effect.repeat({
              until: (cs) => cs.some((c) => c.offset !== undefined),
              schedule: Schedule.spaced("100 millis"),
              times: 50
            })
          )
          assert.deepStrictEqual(
            committed.filter((c) => c.offset !== undefined).map((c) => [c.partition, c.offset]),
            [[moved.partitions[0]!.partition, "3"]]
          )
        }).pipe(Effect.scoped, Effect.provide(layer({}))), 120_000)
    }

    if (options.cooperative === true) {
      it.live("a member joining takes only what moves: the others keep fetching from where they are", () =>
        Effect.gen(function*() {
          const topic = uniqueName("cooperative")
          const groupId = uniqueName("cooperative-group")
          const admin = yield* KafkaAdmin
          yield* admin.createTopics([{ topic, partitions: 4 }])
          yield* produceNumbered(topic, 2_000)
          const source = yield* KafkaSource
          const first = yield* source.subscribe({ groupId, topics: [topic] })
          const seen = yield* Ref.make<ReadonlyArray<SourceEvent>>([])
          yield* first.events.pipe(
            Stream.runForEach((e) =>
              Ref.update(seen, (es) => [...es, e])
            ),
            Effect.forkScoped
          )
          const offsetsSeen = (es: ReadonlyArray<SourceEvent>) =>
            es.flatMap((e) => (e._tag === "Batch"
              ? e.records.map((r) =>
                `${r.partition}:${r.offset}`
              )
              : [])
            )
          const waitFor = (what: string, done: (es: ReadonlyArray<SourceEvent>) => boolean) =>
            Ref.get(seen).pipe(
              Effect.repeat({ until: done, schedule: Schedule.spaced("50 millis"), times: 1_200 }),
              Effect.filterOrFail(done, () => new Error(`timed out waiting for ${what}`))
            )
          yield* waitFor("the first member's records", (es) => offsetsSeen(es).length === 2_000)
          // No commit was made: a partition that restarted would deliver its records again.
          const second = yield* source.subscribe({ groupId, topics: [topic] })
          const moved = yield* firstAssignment(second)
          assert.strictEqual(moved.partitions.length, 2)
          const events = yield* waitFor("the revocation", (es) => es.some((e) => e._tag === "Revoked"))
          const partitionsOf = (tag: "Assigned" | "Revoked") =>
            events.flatMap((e) => (e._tag === tag ? e.partitions.map((p) => p.partition) : [])).sort()
          assert.deepStrictEqual(partitionsOf("Revoked"), moved.partitions.map((p) => p.partition).sort())
          assert.deepStrictEqual(partitionsOf("Assigned"), [0, 1, 2, 3])
          // The kept partitions go on: new records arrive once, and nothing read before comes again.
          yield* produceNumbered(topic, 400)
          const kept = new Set([0, 1, 2, 3].filter((p) => !moved.partitions.some((m) => m.partition === p)))
          const keptNew = Array.from({ length: 400 }, (_, i) => partitionForKey(`k${i % 97}`, 4))
            .filter((p) => kept.has(p)).length
          const keptRecords = (es: ReadonlyArray<SourceEvent>) =>
            es.slice(events.length).flatMap((e) => (e._tag === "Batch" && kept.has(e.partition) ? e.records : []))
          const after = yield* waitFor("the kept partitions' new records", (es) => keptRecords(es).length >= keptNew)
          assert.strictEqual(keptRecords(after).length, keptNew)
          const all = offsetsSeen(after)
          assert.strictEqual(new Set(all).size, all.length, "a record was delivered twice")
          assert.isTrue(after.slice(events.length).every((e) => e._tag === "Batch"))
        }).pipe(Effect.scoped, Effect.provide(layer({}))), 120_000)
    }

    it.live("offsets kept outside Kafka decide where newly assigned partitions start", () =>
      Effect.gen(function*() {
        const topic = uniqueName("external-offsets")
        const admin = yield* KafkaAdmin
        yield* admin.createTopics([{ topic, partitions: 1 }])
        yield* produceNumbered(topic, 50)
        const source = yield* KafkaSource
        const sub = yield* source.subscribe({
          groupId: uniqueName("external-group"),
          topics: [topic],
          startOffsets: (partitions) =>
            Effect.succeed(partitions.map((p) => ({ ...p, offset: "30" })))
        })
        const records = yield* takeRecords(sub, 20)
        assert.deepStrictEqual(records.map((r) => Number(r.offset)), Array.from({ length: 20 }, (_, i) => 30 + i))
      }).pipe(Effect.scoped, Effect.provide(layer({}))), 120_000)
  })
