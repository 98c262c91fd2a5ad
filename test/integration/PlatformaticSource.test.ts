import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Option, Queue, Scope, Stream } from "effect"
import { KafkaConfig } from "../../src/config/KafkaConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSinkLayer, kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import type { SourceEvent } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource, type Subscription } from "../../src/kafka/KafkaSource.ts"
import { kafkaBootstrap, uniqueName } from "../support/TestKafka.ts"

/** KAFKA_CLIENT=platformatic services, optionally with KAFKA_GROUP_INSTANCE_ID or eager rebalancing. */
const platformatic = (groupInstanceId?: string, rebalanceProtocol: "cooperative" | "eager" = "cooperative") =>
  Layer.fresh(
    Layer.mergeAll(kafkaSourceLayer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
      Layer.provideMerge(KafkaClient.layer),
      Layer.provideMerge(
        KafkaConfig.layerWith({
          client: "platformatic",
          groupInstanceId: Option.fromNullishOr(groupInstanceId),
          rebalanceProtocol,
          brokers: [kafkaBootstrap()]
        })
      )
    )
  )

const produce = (topic: string, n: number) =>
  Effect.flatMap(
    KafkaSink,
    (sink) => sink.send(Array.from({ length: n }, (_, i) => ({ topic, key: `k${i % 13}`, value: String(i) })))
  )

/** Every event of a subscription, into a queue the test reads at its own pace. */
const follow = (sub: Subscription) =>
  Effect.gen(function*() {
    const events = yield* Queue.unbounded<SourceEvent>()
    yield* sub.events.pipe(Stream.runForEach((e) => Queue.offer(events, e)), Effect.forkChild)
    return { events }
  })

const nextWhere = <A extends SourceEvent>(events: Queue.Queue<SourceEvent>, f: (e: SourceEvent) => e is A) =>
  Effect.gen(function*() {
    while (true) {
      const e = yield* Queue.take(events)
      if (f(e)) return e
    }
  }).pipe(Effect.timeout("60 seconds"))

const isAssigned = (e: SourceEvent): e is Extract<SourceEvent, { _tag: "Assigned" }> => e._tag === "Assigned"
const isBatch = (e: SourceEvent): e is Extract<SourceEvent, { _tag: "Batch" }> => e._tag === "Batch"

describe("@platformatic/kafka source on the real local broker", () => {
  it.live(
    "commit metadata comes back as committedMetadata on the next assignment (and kafkajs reads it too)",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("pl-meta")
        const groupId = uniqueName("pl-meta-group")
        const admin = yield* KafkaAdmin
        yield* admin.createTopics([{ topic, partitions: 2 }])
        yield* produce(topic, 200)
        const source = yield* KafkaSource
        const commits = [
          { topic, partition: 0, offset: "10", metadata: "{\"wm\":1767225600000}" },
          { topic, partition: 1, offset: "20", metadata: "wm=2" }
        ]
        yield* Effect.scoped(Effect.gen(function*() {
          const sub = yield* source.subscribe({ groupId, topics: [topic] })
          const { events } = yield* follow(sub)
          const assigned = yield* nextWhere(events, isAssigned)
          assert.deepStrictEqual(assigned.partitions.map((p) => p.committedOffset), [undefined, undefined])
          yield* sub.commit(commits)
        }))
        const committed = yield* admin.committedOffsets(groupId, topic)
        assert.deepStrictEqual(committed.map((c) => [c.offset, c.metadata]), commits.map((c) => [c.offset, c.metadata]))

        const sub = yield* source.subscribe({ groupId, topics: [topic] })
        const { events } = yield* follow(sub)
        const assigned = yield* nextWhere(events, isAssigned)
        assert.deepStrictEqual(
          assigned.partitions.map((p) => [p.partition, p.committedOffset, p.committedMetadata]),
          commits.map((c) => [c.partition, c.offset, c.metadata])
        )
        const firsts = new Map<number, string>()
        while (firsts.size < 2) {
          const batch = yield* nextWhere(events, isBatch)
          if (!firsts.has(batch.partition)) firsts.set(batch.partition, batch.records[0]!.offset)
        }
        assert.deepStrictEqual([firsts.get(0), firsts.get(1)], ["10", "20"], "delivery resumes at the commits")
      }).pipe(Effect.scoped, Effect.provide(platformatic())),
    120_000
  )

  it.live(
    "eager rebalancing: a second member joins, all of the first's partitions are revoked, then the group splits them",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("pl-split")
        const groupId = uniqueName("pl-split-group")
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 4 }])
        const source = yield* KafkaSource
        const a = yield* follow(yield* source.subscribe({ groupId, topics: [topic] }))
        const first = yield* nextWhere(a.events, isAssigned)
        assert.strictEqual(first.partitions.length, 4)
        const b = yield* follow(yield* source.subscribe({ groupId, topics: [topic] }))
        const revoked = yield* nextWhere(
          a.events,
          (e): e is Extract<SourceEvent, { _tag: "Revoked" }> => e._tag === "Revoked"
        )
        assert.strictEqual(revoked.partitions.length, 4)
        const [ofA, ofB] = [yield* nextWhere(a.events, isAssigned), yield* nextWhere(b.events, isAssigned)]
        const owned = [...ofA.partitions, ...ofB.partitions].map((p) => p.partition).sort()
        assert.deepStrictEqual(owned, [0, 1, 2, 3])
        assert.isAbove(ofA.partitions.length, 0)
        assert.isAbove(ofB.partitions.length, 0)
      }).pipe(Effect.scoped, Effect.provide(platformatic(undefined, "eager"))),
    120_000
  )

  it.live(
    "a consumer with the group instance id of a live one fences it: the first fails naming the variable",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("pl-fence")
        const groupId = uniqueName("pl-fence-group")
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
        const source = yield* KafkaSource
        const firstScope = yield* Scope.make()
        const first = yield* source.subscribe({ groupId, topics: [topic] }).pipe(Scope.provide(firstScope))
        const firstEvents = yield* Queue.unbounded<SourceEvent>()
        const firstFailed = yield* Deferred.make<string>()
        yield* first.events.pipe(
          Stream.runForEach((e) => Queue.offer(firstEvents, e)),
          Effect.catch((e) => Deferred.succeed(firstFailed, e.message)),
          Effect.forkChild
        )
        yield* nextWhere(firstEvents, isAssigned)

        const second = yield* follow(yield* source.subscribe({ groupId, topics: [topic] }))
        const message = yield* Deferred.await(firstFailed).pipe(Effect.timeout("30 seconds"))
        assert.match(message, /KAFKA_GROUP_INSTANCE_ID/)
        assert.match(message, /fenced/)
        yield* Scope.close(firstScope, Exit.void)
        // The newcomer keeps the partitions and consumes: the fenced one did not take them back.
        yield* produce(topic, 50)
        let seen = 0
        while (seen < 50) seen += (yield* nextWhere(second.events, isBatch)).records.length
        yield* Effect.sleep("4 seconds")
        const later = yield* Queue.clear(second.events)
        assert.isFalse(later.some((e) => e._tag === "Revoked"), "no rebalance after the fencing")
      }).pipe(Effect.scoped, Effect.provide(platformatic("it-{group}"))),
    120_000
  )

  it.live("offsets committed by a transaction are read once the transaction ends", () =>
    Effect.gen(function*() {
      const input = uniqueName("pl-tx-in")
      const groupId = uniqueName("pl-tx-group")
      yield* (yield* KafkaAdmin).createTopics([{ topic: input, partitions: 1 }])
      yield* produce(input, 20)
      const producer = yield* (yield* KafkaSink).transactional(uniqueName("pl-tx"))
      // The member that commits in the transaction leaves before the next one joins.
      yield* Effect.scoped(Effect.gen(function*() {
        const { events } = yield* follow(yield* (yield* KafkaSource).subscribe({ groupId, topics: [input] }))
        const { membership } = yield* nextWhere(events, isAssigned)
        const outcome = yield* producer.sendAndCommit([{ topic: input, value: "in the transaction" }], {
          groupId,
          offsets: [{ topic: input, partition: 0, offset: "12", metadata: "m" }],
          membership
        })
        assert.strictEqual(outcome, "committed")
      }))
      const sub = yield* (yield* KafkaSource).subscribe({ groupId, topics: [input] })
      const { events } = yield* follow(sub)
      const assigned = yield* nextWhere(events, isAssigned)
      assert.deepStrictEqual(assigned.partitions.map((p) => [p.committedOffset, p.committedMetadata]), [["12", "m"]])
    }).pipe(Effect.scoped, Effect.provide(platformatic())), 120_000)
})
