import { Context, Effect, Layer, type Scope, type Stream } from "effect"
import type { Admin, IHeaders } from "kafkajs"
import { KafkaConfig } from "../config/KafkaConfig.ts"
import { KafkaClient } from "./KafkaClient.ts"
import { type KafkaError, kafkaError } from "./KafkaError.ts"
import type { AssignedPartition, CommitOffset, KafkaRecord, SourceEvent, TopicPartition } from "./KafkaRecord.ts"
import { SubscriptionBuffer } from "./SubscriptionBuffer.ts"

export interface SubscribeOptions {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  /** Where a group with no committed offset starts. Default: the earliest record, so nothing is skipped. */
  readonly fromBeginning?: boolean | undefined
  /** Overrides KAFKA_MAX_BUFFERED_RECORDS for this subscription. */
  readonly maxBufferedRecords?: number | undefined
  /** Overrides KAFKA_MAX_BUFFERED_BYTES for this subscription. */
  readonly maxBufferedBytes?: number | undefined
  /** Overrides KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY for this subscription. */
  readonly partitionsConsumedConcurrently?: number | undefined
  /**
   * Where to start newly assigned partitions when the offsets live outside Kafka (e.g. in the same
   * database transaction as a sink's rows). Partitions it leaves out start at the group's commit.
   */
  readonly startOffsets?: StartOffsets | undefined
  /**
   * Resolves once the subscriber holds nothing unwritten from partitions it no longer owns (see
   * `Subscription.owns`). Before letting the group move partitions away, the source waits for it
   * (bounded), so no other member writes for a partition while this one still does (platformatic; the
   * other sources release at once).
   */
  readonly drainRevoked?: (() => Promise<void>) | undefined
}

export type StartOffsets = (
  partitions: ReadonlyArray<TopicPartition>
) => Effect.Effect<
  ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly offset: string }>,
  unknown
>

/**
 * What one kafkajs consumer knows about its link to the brokers, kept up to date from kafkajs
 * instrumentation events (health checks and the dashboard read it; nothing here is ever a secret).
 */
export class SourceConnection {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  /** Connected and not crashed since (a crash that kafkajs restarts from clears it on the next contact). */
  connected = false
  connectedAt: number | undefined
  /** The last time a broker answered: a fetch response or a group heartbeat (epoch ms). */
  lastContactAt: number | undefined
  lastFetchAt: number | undefined
  lastError: string | undefined
  lastErrorAt: number | undefined
  crashes = 0
  requestTimeouts = 0
  /** Group joins (each one follows a rebalance). */
  rebalances = 0

  constructor(groupId: string, topics: ReadonlyArray<string>) {
    this.groupId = groupId
    this.topics = topics
  }

  contact(at: number): void {
    this.connected = true
    this.lastContactAt = at
  }

  failed(at: number, error: unknown): void {
    this.connected = false
    this.lastErrorAt = at
    this.lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  }
}

/**
 * The kafkajs consumers of this process, while they run. A reference with a process-wide default, so
 * health checks find them without any layer wiring; provide a fresh Set to isolate a test.
 */
export const KafkaConnections = Context.Reference<Set<SourceConnection>>(
  "tributary/kafka/KafkaSource/KafkaConnections",
  {
    defaultValue: () => new Set()
  }
)

export interface Subscription {
  /** The consumer's link to the brokers (real clients; undefined for the in-memory broker). */
  readonly connection?: SourceConnection | undefined
  /** Assignment changes and per-partition batches, in order. Auto-commit is off. */
  readonly events: Stream.Stream<SourceEvent, KafkaError>
  /** Commits offsets the caller says are safe (next offset to read). Partitions no longer owned are skipped. */
  readonly commit: (offsets: ReadonlyArray<CommitOffset>) => Effect.Effect<void, KafkaError>
  /** Records fetched but not yet taken from `events`: the back-pressure bound applies to this number. */
  readonly bufferedRecords: Effect.Effect<number>
  /** Bytes of keys and values of those records (bounded too). */
  readonly bufferedBytes: Effect.Effect<number>
  /**
   * Reads these partitions again from their committed offsets: `Revoked`, then `Assigned` with the
   * checkpoint, as if they had moved away and back. Sources that keep partitions across rebalances
   * (cooperative) have it, for a kept partition whose transaction the group refused; with the others
   * every rebalance restarts every partition anyway.
   */
  readonly rewind?: ((partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<void>) | undefined
  /**
   * True while the partition is assigned in the epoch given (if any; see `RecordBatch.epoch`): false as
   * soon as the source has revoked it, before the `Revoked` event reaches the subscriber.
   */
  readonly owns: (partition: TopicPartition & { readonly epoch?: number | undefined }) => boolean
}

/** Consumes topics as a member of a consumer group. */
export class KafkaSource extends Context.Service<KafkaSource, {
  readonly subscribe: (options: SubscribeOptions) => Effect.Effect<Subscription, KafkaError, Scope.Scope>
}>()("tributary/kafka/KafkaSource") {
  static readonly layer = Layer.effect(
    KafkaSource,
    Effect.gen(function*() {
      const { kafka } = yield* KafkaClient
      const settings = yield* KafkaConfig

      const subscribe = Effect.fn("KafkaSource.subscribe")(function*(options: SubscribeOptions) {
        const buffer = yield* SubscriptionBuffer.make(
          options.maxBufferedRecords ?? settings.maxBufferedRecords,
          options.maxBufferedBytes ?? settings.maxBufferedBytes
        )
        const runPromise = Effect.runPromiseWith(yield* Effect.context<never>())
        const admin = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              const a = kafka.admin()
              await a.connect()
              return a
            },
            catch: kafkaError("admin connect")
          }),
          (a) => Effect.promise(() => a.disconnect().catch(() => undefined))
        )
        const consumer = kafka.consumer({
          groupId: options.groupId,
          maxBytesPerPartition: settings.maxBytesPerPartition,
          sessionTimeout: 30_000,
          heartbeatInterval: 3_000,
          retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 }
        })

        const connection = new SourceConnection(options.groupId, options.topics)
        const connections = yield* KafkaConnections
        yield* Effect.acquireRelease(
          Effect.sync(() => connections.add(connection)),
          () => Effect.sync(() => connections.delete(connection))
        )
        const kafkaEvents = consumer.events
        consumer.on(kafkaEvents.CONNECT, (e) => {
          connection.connectedAt = e.timestamp
          connection.contact(e.timestamp)
        })
        consumer.on(kafkaEvents.DISCONNECT, () => (connection.connected = false))
        consumer.on(kafkaEvents.FETCH, (e) => {
          connection.lastFetchAt = e.timestamp
          connection.contact(e.timestamp)
        })
        consumer.on(kafkaEvents.HEARTBEAT, (e) => connection.contact(e.timestamp))
        consumer.on(kafkaEvents.REQUEST_TIMEOUT, () => connection.requestTimeouts++)
        consumer.on(kafkaEvents.CRASH, (e) => {
          connection.crashes++
          connection.failed(e.timestamp, e.payload.error)
        })

        // Offsets committed for newly assigned partitions; batches wait for it so `Assigned` comes first.
        let assignmentReady: Promise<void> = Promise.resolve()
        consumer.on(consumer.events.GROUP_JOIN, ({ payload, timestamp }) => {
          connection.rebalances++
          connection.contact(timestamp)
          const partitions: Array<TopicPartition> = Object.entries(payload.memberAssignment).flatMap(
            ([topic, ps]) => ps.map((partition) => ({ topic, partition }))
          )
          buffer.revokeAll()
          assignmentReady = committedOffsets(admin, options.groupId, partitions)
            .then(async (assigned) => {
              if (options.startOffsets === undefined) return assigned
              const external = await runPromise(options.startOffsets(partitions))
              return assigned.map((p) => {
                const start = external.find((e) => e.topic === p.topic && e.partition === p.partition)
                if (start === undefined) return p
                consumer.seek({ topic: p.topic, partition: p.partition, offset: start.offset })
                return { ...p, committedOffset: start.offset, committedMetadata: undefined }
              })
            })
            .then(
              (assigned) => buffer.reassign(assigned),
              (cause) => buffer.fail(kafkaError("fetch start offsets")(cause))
            )
        })
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          if (!payload.restart) buffer.fail(kafkaError("consume")(payload.error))
        })

        yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              await consumer.connect()
              await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true })
              await consumer.run({
                autoCommit: false,
                partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ??
                  settings.partitionsConsumedConcurrently,
                eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
                  const tp = { topic: batch.topic, partition: batch.partition }
                  // Start offsets kept outside Kafka (PostgreSQL) may take long while their store is down:
                  // the member heartbeats meanwhile, so it stays in the group (and a rebalance still ends
                  // the wait) instead of being evicted and rejoining in a loop.
                  await heartbeatingUntil(assignmentReady, () => heartbeat().catch(onlyRebalance))
                  const epoch = buffer.epochOf(tp)
                  if (!isRunning() || isStale()) return
                  const records = batch.messages.map((m): KafkaRecord => ({
                    topic: batch.topic,
                    partition: batch.partition,
                    offset: m.offset,
                    timestamp: Number(m.timestamp),
                    key: m.key,
                    value: m.value,
                    headers: normaliseHeaders(m.headers)
                  }))
                  // While it waits for room the batch keeps the member in the group; when the group
                  // rebalances, the wait ends with the error, so kafkajs rejoins at once and this
                  // batch (of partitions it may lose) is dropped instead of held for the whole rebalance.
                  await buffer.offer({ _tag: "Batch", ...tp, records }, epoch, () => heartbeat().catch(onlyRebalance))
                }
              })
            },
            catch: kafkaError("subscribe")
          }),
          () =>
            Effect.promise(async () => {
              // Let a callback waiting for room return, so disconnect does not wait on it.
              buffer.close()
              await consumer.disconnect().catch(() => undefined)
            })
        )

        const commit = (offsets: ReadonlyArray<CommitOffset>) => {
          const owned = offsets.filter((o) => buffer.isAssigned(o))
          if (owned.length === 0) return Effect.void
          return Effect.tryPromise({
            try: () =>
              consumer.commitOffsets(owned.map((o) => ({
                topic: o.topic,
                partition: o.partition,
                offset: o.offset,
                metadata: o.metadata ?? null
              }))),
            catch: kafkaError("commit")
          })
        }

        return buffer.subscription(commit, connection)
      })

      return KafkaSource.of({ subscribe })
    })
  )
}

const committedOffsets = async (
  admin: Admin,
  groupId: string,
  partitions: ReadonlyArray<TopicPartition>
): Promise<Array<AssignedPartition>> => {
  const topics = [...new Set(partitions.map((p) => p.topic))]
  if (topics.length === 0) return []
  const fetched = await admin.fetchOffsets({ groupId, topics })
  const byKey = new Map<string, { offset: string; metadata: string | null }>()
  for (const t of fetched) for (const p of t.partitions) byKey.set(`${t.topic}:${p.partition}`, p)
  return partitions.map((tp) => {
    const c = byKey.get(`${tp.topic}:${tp.partition}`)
    const committed = c !== undefined && c.offset !== "-1" ? c : undefined
    return {
      ...tp,
      committedOffset: committed?.offset,
      committedMetadata: committed?.metadata ?? undefined
    }
  })
}

const noHeaders: Readonly<Record<string, Buffer>> = Object.freeze({})

const normaliseHeaders = (headers: IHeaders | undefined): Readonly<Record<string, Buffer>> => {
  if (headers === undefined) return noHeaders
  let out: Record<string, Buffer> | undefined
  for (const k in headers) {
    const v = headers[k]
    const first = Array.isArray(v) ? v[0] : v
    if (first === undefined || first === null) continue
    out ??= {}
    out[k] = Buffer.isBuffer(first) ? first : Buffer.from(String(first), "utf8")
  }
  return out ?? noHeaders
}

/** Waits for `ready`, calling `heartbeat` every second meanwhile; a heartbeat that throws ends the wait. */
export const heartbeatingUntil = async (ready: Promise<void>, heartbeat: () => Promise<void>): Promise<void> => {
  const done = ready.then(() => "ready" as const)
  for (;;) {
    let timer: NodeJS.Timeout | undefined
    const tick = new Promise<"tick">((resolve) => (timer = setTimeout(() => resolve("tick"), heartbeatWhileWaitingMs)))
    const first = await Promise.race([done, tick])
    clearTimeout(timer)
    if (first === "ready") return
    await heartbeat()
  }
}

const heartbeatWhileWaitingMs = 1_000

/** kafkajs' errors that mean "rejoin the group now"; any other heartbeat failure is left to the next one. */
const rebalanceErrors = new Set([
  "REBALANCE_IN_PROGRESS",
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "NOT_COORDINATOR_FOR_GROUP"
])

const onlyRebalance = (e: unknown): void => {
  if (rebalanceErrors.has((e as { readonly type?: string } | null)?.type ?? "")) throw e
}
