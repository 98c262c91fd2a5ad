import { Context, Effect, Layer, type Scope } from "effect"
import { CompressionTypes, type Message, type Producer, type TopicMessages } from "kafkajs"
import { KafkaClient } from "./KafkaClient.ts"
import { type KafkaError, kafkaError } from "./KafkaError.ts"
import type { CommitOffset, GroupMembership, OutgoingRecord } from "./KafkaRecord.ts"
import { keyPartitioner } from "./KeyPartitioner.ts"

/** How a transaction ended: committed, or refused because its offsets' group generation is over. */
export type TransactionOutcome = "committed" | "stale"

/** Produces records and, atomically, the consumer offsets that led to them (Kafka transactions). */
export interface TransactionalProducer {
  /**
   * Writes `records` and commits `offsets` for `groupId` in one Kafka transaction: a read-committed
   * consumer sees the records exactly when the offsets are committed. With a `membership` (KIP-447)
   * the offsets are committed as that group member: when the group has moved to a newer generation
   * since, the transaction is aborted and the outcome is "stale" (the records are another member's
   * to write now). Other failures abort too and fail.
   */
  readonly sendAndCommit: (
    records: ReadonlyArray<OutgoingRecord>,
    commit: {
      readonly groupId: string
      readonly offsets: ReadonlyArray<CommitOffset>
      readonly membership?: GroupMembership | undefined
    }
  ) => Effect.Effect<TransactionOutcome, KafkaError>
}

type Transactional = (transactionalId: string) => Effect.Effect<TransactionalProducer, KafkaError, Scope.Scope>

/** Plain sends on one kafkajs producer. */
export const makeKafkajsSend: Effect.Effect<
  (records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<void, KafkaError>,
  KafkaError,
  KafkaClient | Scope.Scope
> = Effect.gen(function*() {
  const { kafka } = yield* KafkaClient
  const producer = yield* connected(
    kafka.producer({ allowAutoTopicCreation: true, createPartitioner: keyPartitioner }),
    "producer connect"
  )
  return (records: ReadonlyArray<OutgoingRecord>) =>
    records.length === 0 ? Effect.void : Effect.tryPromise({
      try: async () => {
        for (const chunk of chunksBySize(records)) {
          await producer.sendBatch({
            topicMessages: toTopicMessages(chunk),
            acks: -1,
            compression: CompressionTypes.None
          })
        }
      },
      catch: kafkaError("produce")
    })
})

/**
 * Transactions on kafkajs. It has no KIP-447 (its offsets carry no group generation), so one
 * transactional id serves the whole group and a new process fences the previous one: exactly-once
 * holds with one active process per group.
 */
export const makeKafkajsTransactional: Effect.Effect<Transactional, never, KafkaClient> = Effect.gen(function*() {
  const { kafka } = yield* KafkaClient
  return Effect.fn("KafkaSink.transactional")(function*(transactionalId: string) {
    const open = () =>
      kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
        createPartitioner: keyPartitioner
      })
    let current: Producer | undefined = yield* Effect.tryPromise({
      try: async () => {
        const fresh = open()
        await fresh.connect()
        return fresh
      },
      catch: kafkaError("transactional producer connect")
    })
    yield* Effect.addFinalizer(() => Effect.promise(async () => current?.disconnect().catch(() => undefined)))

    const sendAndCommit: TransactionalProducer["sendAndCommit"] = (records, { groupId, offsets }) =>
      Effect.tryPromise({
        try: async () => {
          if (current === undefined) {
            const fresh = open()
            await fresh.connect()
            current = fresh
          }
          const txProducer: Producer = current
          let tx: Awaited<ReturnType<Producer["transaction"]>> | undefined
          try {
            tx = await txProducer.transaction()
            for (const chunk of chunksBySize(records)) {
              await tx.sendBatch({ topicMessages: toTopicMessages(chunk), acks: -1 })
            }
            if (offsets.length > 0) {
              await tx.sendOffsets({ consumerGroupId: groupId, topics: groupByTopic(offsets) })
            }
            await tx.commit()
            return "committed" as const
          } catch (error) {
            // A failed EndTxn can leave a kafkajs producer in COMMITTING/ABORTING for good, refusing
            // every later transaction (and its abort or disconnect may never settle): drop it without
            // waiting long. The next attempt opens a new producer, whose initTransactions fences this
            // one and aborts whatever it left open.
            current = undefined
            if (tx !== undefined) await settleWithin(tx.abort(), 5_000)
            void txProducer.disconnect().catch(() => undefined)
            throw error
          }
        },
        catch: kafkaError("transaction")
      })
    return { sendAndCommit }
  })
})

export class KafkaSink extends Context.Service<KafkaSink, {
  /** Batched produce; resolves when every record is acknowledged by all in-sync replicas. */
  readonly send: (records: ReadonlyArray<OutgoingRecord>) => Effect.Effect<void, KafkaError>
  /**
   * A transactional producer for one output, open for the scope. `transactionalId` names the output;
   * the backend decides the id it registers (see docs/scaling-out.md).
   */
  readonly transactional: Transactional
}>()("tributary/kafka/KafkaSink") {
  /** kafkajs for everything. */
  static readonly layer = Layer.effect(
    KafkaSink,
    Effect.all({ send: makeKafkajsSend, transactional: makeKafkajsTransactional }).pipe(Effect.map(KafkaSink.of))
  )
}

/** Waits for `promise` at most `ms` (its outcome is ignored either way). */
const settleWithin = (promise: Promise<unknown>, ms: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    promise.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve())
    )
  })

const connected = (producer: Producer, operation: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => producer.connect().then(() => producer), catch: kafkaError(operation) }),
    (p) => Effect.promise(() => p.disconnect().catch(() => undefined))
  )

/**
 * Splits a large send into requests that stay under the broker's default message size limit (1 MiB
 * per partition batch), keeping order. Sizes are estimated from keys, values and headers.
 */
export const chunksBySize = (
  records: ReadonlyArray<OutgoingRecord>,
  maxBytes = 768 * 1024
): Array<ReadonlyArray<OutgoingRecord>> => {
  const chunks: Array<ReadonlyArray<OutgoingRecord>> = []
  let start = 0
  let bytes = 0
  for (let i = 0; i < records.length; i++) {
    const size = recordSize(records[i]!)
    if (bytes + size > maxBytes && i > start) {
      chunks.push(records.slice(start, i))
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (start < records.length) chunks.push(start === 0 ? records : records.slice(start))
  return chunks
}

const byteLength = (v: Buffer | string | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === "string" ? v.length * 3 : v.length

const recordSize = (r: OutgoingRecord): number => {
  let size = 70 + byteLength(r.key) + byteLength(r.value)
  if (r.headers !== undefined) { for (const k in r.headers) size += k.length + byteLength(r.headers[k]) + 8 }
  return size
}

/** Groups records by topic, keeping their order, as kafkajs' sendBatch wants them. */
export const toTopicMessages = (records: ReadonlyArray<OutgoingRecord>): Array<TopicMessages> => {
  const byTopic = new Map<string, Array<Message>>()
  for (const r of records) {
    let messages = byTopic.get(r.topic)
    if (messages === undefined) {
      messages = []
      byTopic.set(r.topic, messages)
    }
    const message: Message = { key: r.key ?? null, value: r.value }
    // Shared, never mutated by kafkajs: no per-record copy (feature-group headers are one object).
    if (r.headers !== undefined) message.headers = r.headers as Message["headers"] & object
    if (r.partition !== undefined) message.partition = r.partition
    if (r.timestamp !== undefined) message.timestamp = String(r.timestamp)
    messages.push(message)
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

const groupByTopic = (offsets: ReadonlyArray<CommitOffset>) => {
  const byTopic = new Map<string, Array<{ partition: number; offset: string; metadata?: string }>>()
  for (const o of offsets) {
    const list = byTopic.get(o.topic) ?? []
    list.push({
      partition: o.partition,
      offset: o.offset,
      ...(o.metadata === undefined ? {} : { metadata: o.metadata })
    })
    byTopic.set(o.topic, list)
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}
