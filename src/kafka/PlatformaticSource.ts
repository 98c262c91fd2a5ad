import {
  ConnectionPool,
  Consumer,
  consumerGroupChannel,
  type ConsumerGroupJoinPayload,
  consumerHeartbeatChannel,
  FetchIsolationLevels,
  findErrorBy
} from "@platformatic/kafka"
import { Clock, Effect, Layer, Option } from "effect"
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from "node:diagnostics_channel"
import { groupInstanceIdFor, KafkaConfig } from "../config/KafkaConfig.ts"
import { KafkaClient } from "./KafkaClient.ts"
import { KafkaError, kafkaError } from "./KafkaError.ts"
import { type AssignedPartition, type CommitOffset, partitionKey, type TopicPartition } from "./KafkaRecord.ts"
import { KafkaConnections, KafkaSource, SourceConnection, type SubscribeOptions } from "./KafkaSource.ts"
import {
  committedOffsets,
  commitWithMetadata,
  connectionOptions,
  type FetchResponse,
  groupByTopic,
  hasError,
  liveMembership,
  resetOffsets,
  toRecords
} from "./PlatformaticConsumerApi.ts"
import { SubscriptionBuffer } from "./SubscriptionBuffer.ts"

/** Where the next fetch of an assigned partition starts; replaced (never reused) on reassignment. */
interface Position extends TopicPartition {
  offset: bigint
  /** The buffer's epoch of the partition when it was assigned: a batch from an older one is stale. */
  readonly epoch: number
}

/** How long a fetch waits for data at most: also how long a newly assigned partition may wait for its first one. */
const fetchMaxWaitMs = 500
/** The client's own default for a whole fetch response. */
const clientFetchMaxBytes = 50 * 1024 * 1024
const rebalanceTimeoutMs = 60_000
const noUserData = Buffer.alloc(0)
const metadataMaxAgeMs = 5 * 60_000
/** How long a rebalance waits at most for this member to finish writing what it read from revoked partitions. */
const revocationDrainMs = 30_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A lookup at the coordinator or a leader, retried a few times: right after a rejoin they may still move. */
const retried = async <A>(f: () => Promise<A>, attempts = 5): Promise<A> => {
  for (let attempt = 1;; attempt++) {
    try {
      return await f()
    } catch (e) {
      if (attempt >= attempts) throw e
      await sleep(1_000)
    }
  }
}

/**
 * KafkaSource on @platformatic/kafka (KAFKA_CLIENT=platformatic). The library's consumer keeps the group
 * membership (join, heartbeats on a timer of their own, static membership with KAFKA_GROUP_INSTANCE_ID);
 * this module fetches with the consumer's low-level `fetch`, so it decides where each partition starts
 * (committed offset or offsets kept outside Kafka) and hands over whole per-partition batches, and it
 * commits through PlatformaticConsumerApi, which keeps the commit metadata. Rebalancing follows
 * KAFKA_REBALANCE_PROTOCOL: cooperative (the cooperative-sticky assignor: only partitions that move are
 * revoked, the others keep fetching from where they are) or eager (every rebalance revokes everything).
 * Batches are handed over as they are fetched, so KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY has no meaning here.
 */
export const platformaticSourceLayer = Layer.effect(
  KafkaSource,
  Effect.gen(function*() {
    const client = yield* KafkaClient
    const settings = yield* KafkaConfig
    const connection$ = connectionOptions(client, settings)

    const subscribe = Effect.fn("PlatformaticSource.subscribe")(function*(options: SubscribeOptions) {
      const buffer = yield* SubscriptionBuffer.make(
        options.maxBufferedRecords ?? settings.maxBufferedRecords,
        options.maxBufferedBytes ?? settings.maxBufferedBytes
      )
      // Fetches follow the byte bound: a fetched response waits whole while its batches wait for room in the
      // buffer, so each leader's fetch asks for at most the bound, and each partition for at most that too
      // (a first record batch larger than the bound still comes, alone: Kafka returns it anyway).
      const fetchMaxBytes = Math.min(buffer.bytes.max, clientFetchMaxBytes)
      const partitionMaxBytes = Math.min(settings.maxBytesPerPartition, fetchMaxBytes)
      const context = yield* Effect.context<never>()
      const runPromise = Effect.runPromiseWith(context)
      const clock = yield* Clock.Clock
      const now = () => clock.currentTimeMillisUnsafe()
      const warn = (message: string) =>
        Effect.runForkWith(context)(
          Effect.logWarning(message).pipe(Effect.annotateLogs({ component: "platformatic-kafka" }))
        )
      const { groupId } = options
      const topics = [...options.topics]
      const fromBeginning = options.fromBeginning ?? true
      const instanceId = Option.map(settings.groupInstanceId, (t) => groupInstanceIdFor(t, groupId))
      const cooperative = settings.rebalanceProtocol === "cooperative"

      const consumer = new Consumer({
        clientId: settings.clientId,
        bootstrapBrokers: [...client.brokers],
        ...connection$,
        // The coordinator holds a JoinGroup until every member rejoined (up to the rebalance timeout).
        requestTimeout: Math.max(settings.requestTimeoutMs, rebalanceTimeoutMs + 5_000),
        groupId,
        ...(Option.isSome(instanceId) ? { groupInstanceId: instanceId.value } : {}),
        autocommit: false,
        sessionTimeout: 30_000,
        rebalanceTimeout: rebalanceTimeoutMs,
        heartbeatInterval: 3_000,
        retries: 8,
        retryDelay: 300,
        // Kept until a fetch fails (then cleared): a refresh waits behind a JoinGroup on the same connection,
        // and the fetch loops read it before every fetch.
        metadataMaxAge: metadataMaxAgeMs,
        maxBytesPerPartition: settings.maxBytesPerPartition,
        protocols: [cooperative ? { name: "cooperative-sticky", version: 3 } : { name: "roundrobin", version: 1 }],
        // Runs right before every JoinGroup the consumer sends (the user data itself is unused): what this
        // member gives up is released once the pipeline has written what it read from it (bounded).
        protocolsMetadata: () => {
          dropUnclaimed()
          return options.drainRevoked === undefined
            ? noUserData
            : Promise.race([options.drainRevoked(), sleep(revocationDrainMs), closing]).then(() => noUserData)
        }
      })
      // Fetches long-poll: on connections of their own they never hold up a heartbeat or a commit.
      const fetchPool = new ConnectionPool(settings.clientId, connection$)
      // Commits and offset lookups too: a JoinGroup on the consumer's own connection would hold them up.
      const group = { consumer, connections: new ConnectionPool(settings.clientId, connection$) }
      consumer.topics.trackAll(...topics)

      const connection = new SourceConnection(groupId, topics)
      const connections = yield* KafkaConnections
      yield* Effect.acquireRelease(
        Effect.sync(() => connections.add(connection)),
        () => Effect.sync(() => connections.delete(connection))
      )

      let closed = false
      /** Settles when the subscription closes: a rebalance waiting for the pipeline to drain stops waiting. */
      const { promise: closing, resolve: close } = Promise.withResolvers<void>()
      let fenced: KafkaError | undefined
      const positions = new Map<string, Position>()
      const runningNodes = new Set<number>()
      /** Partitions whose start offsets are being looked up, with the lookup's token (a later one wins). */
      const lookups = new Map<string, number>()
      let lastLookup = 0

      /** Stops fetching `partitions` and revokes them (their records waiting in the buffer are dropped). */
      const drop = (partitions: ReadonlyArray<TopicPartition>) => {
        for (const tp of partitions) {
          positions.delete(partitionKey(tp))
          lookups.delete(partitionKey(tp))
        }
        buffer.revoke(partitions)
      }
      const revokeAll = () => {
        lookups.clear()
        drop(buffer.assignedPartitions())
      }
      /**
       * What makes committing as the consumer's current generation safe (liveMembership): before each
       * JoinGroup this member keeps only what the consumer claims in it (eager: nothing; cooperative:
       * the assignment it still holds). The group can give a partition to another member only in a
       * generation whose JoinGroup did not claim it.
       */
      const dropUnclaimed = () => {
        if (!cooperative) return revokeAll()
        const claimed = new Set(
          (consumer.assignments ?? []).flatMap((a) => a.partitions.map((partition) => `${a.topic}:${partition}`))
        )
        for (const key of lookups.keys()) if (!claimed.has(key)) lookups.delete(key)
        drop(buffer.assignedPartitions().filter((tp) => !claimed.has(partitionKey(tp))))
      }
      const membership = liveMembership(group, (offset) => buffer.isCurrent(offset))

      // ---- group membership ----
      const onFenced = () => {
        if (fenced !== undefined) return
        fenced = new KafkaError({
          operation: "group membership",
          message:
            `another consumer joined group ${groupId} as group.instance.id ${Option.getOrUndefined(instanceId)} ` +
            `(KAFKA_GROUP_INSTANCE_ID): this one was fenced, and stops rather than take the partitions back`
        })
        // Ends the membership at once, before the library's rejoin (which would fence the newcomer in turn).
        consumer.leaveGroup(false, () => undefined)
        revokeAll()
        buffer.fail(fenced)
      }
      // The library rejoins on FENCED_INSTANCE_ID like on any rebalance; its diagnostics channels report
      // the error just before it does.
      const onGroupError = (message: unknown) => {
        const { client: from, error } = message as { readonly client: unknown; readonly error: unknown }
        if (from === consumer && hasError(error, "FENCED_INSTANCE_ID")) onFenced()
      }
      const channels = [consumerHeartbeatChannel.name, consumerGroupChannel.name].map((n) => `tracing:${n}:error`)
      yield* Effect.acquireRelease(
        Effect.sync(() => channels.forEach((c) => subscribeChannel(c, onGroupError))),
        () => Effect.sync(() => channels.forEach((c) => unsubscribeChannel(c, onGroupError)))
      )

      // After its retries (a long broker outage) the library stops rejoining: keep trying, as kafkajs does.
      const rejoin = () =>
        setTimeout(() => {
          if (closed || fenced !== undefined) return
          consumer.joinGroup({}).catch((e: unknown) => {
            connection.failed(now(), e)
            rejoin()
          })
        }, 1_000)
      consumer.on("error", (e) => {
        connection.crashes++
        connection.failed(now(), e)
        if (closed || fenced !== undefined) return
        warn(`group ${groupId}: membership lost, rejoining: ${e.message}`)
        revokeAll()
        rejoin()
      })
      // Eager: a rebalance starts, everything goes. Cooperative: also emitted after the first round of a
      // rebalance that takes partitions away (the consumer's assignment no longer has them).
      consumer.on("consumer:group:rebalance", dropUnclaimed)
      consumer.on("consumer:group:join", (payload: ConsumerGroupJoinPayload) => {
        connection.rebalances++
        connection.contact(now())
        dropUnclaimed()
        const partitions = (payload.assignments ?? []).flatMap((a) =>
          a.partitions.map((partition) => ({ topic: a.topic, partition }))
        )
        // Kept partitions carry on where they are; only new ones start.
        startPartitions(partitions.filter((tp) => !buffer.isAssigned(tp) && !lookups.has(partitionKey(tp))))
      })
      consumer.on("consumer:heartbeat:end", () => connection.contact(now()))
      consumer.on("consumer:heartbeat:error", ({ error }) => connection.failed(now(), error))
      consumer.on("client:broker:connect", () => {
        connection.connectedAt = now()
        connection.contact(now())
      })
      consumer.on("client:broker:disconnect", () => (connection.connected = false))

      /** Start offsets win over the group's commit; partitions with neither start per `fromBeginning`. */
      const startPositions = async (partitions: ReadonlyArray<TopicPartition>) => {
        if (partitions.length === 0) return []
        const committed = await retried(() => committedOffsets(group, partitions))
        const external = options.startOffsets === undefined ? [] : await runPromise(options.startOffsets(partitions))
        const externalOf = (tp: TopicPartition) =>
          external.find((e) => e.topic === tp.topic && e.partition === tp.partition)?.offset
        const unset = partitions.filter((tp) => externalOf(tp) === undefined && !committed.has(partitionKey(tp)))
        const resets = await retried(() => resetOffsets(consumer, unset, fromBeginning))
        // The ends (last stable offsets, the consumer reads committed): a partition starting there is caught up.
        const ends = await retried(() => resetOffsets(consumer, partitions, false))
        return partitions.map((tp): AssignedPartition & { readonly start: bigint } => {
          const end = ends.get(partitionKey(tp))!
          const ext = externalOf(tp)
          if (ext !== undefined) {
            const start = BigInt(ext)
            return { ...tp, committedOffset: ext, committedMetadata: undefined, start, caughtUp: start >= end }
          }
          const c = committed.get(partitionKey(tp))
          const start = c?.offset ?? resets.get(partitionKey(tp))!
          return {
            ...tp,
            committedOffset: c?.offset.toString(),
            committedMetadata: c?.metadata,
            start,
            caughtUp: start >= end
          }
        })
      }

      /** Looks up where `partitions` start, then assigns them and fetches (unless revoked meanwhile). */
      const startPartitions = (partitions: ReadonlyArray<TopicPartition>) => {
        if (partitions.length === 0) return
        const token = ++lastLookup
        for (const tp of partitions) lookups.set(partitionKey(tp), token)
        const stillWanted = (tp: TopicPartition) => !closed && lookups.get(partitionKey(tp)) === token
        startPositions(partitions).then(
          (starts) => {
            const wanted = starts.filter(stillWanted)
            if (wanted.length === 0) return
            for (const s of wanted) lookups.delete(partitionKey(s))
            buffer.assign(wanted.map(({ start: _, ...assigned }) => assigned), membership)
            for (const s of wanted) {
              const { partition, start, topic } = s
              positions.set(partitionKey(s), { topic, partition, offset: start, epoch: buffer.epochOf(s) })
            }
            startFetching()
          },
          (cause) => {
            if (partitions.some(stillWanted)) buffer.fail(kafkaError("fetch start offsets")(cause))
          }
        )
      }

      /**
       * Reads partitions again from their committed offsets, as if they had been revoked and assigned
       * again (their window state is rebuilt): for kept partitions whose transaction was refused.
       */
      const rewind = (partitions: ReadonlyArray<TopicPartition>) =>
        Effect.sync(() => {
          const kept = partitions.filter((tp) => buffer.isAssigned(tp))
          drop(kept)
          startPartitions(kept)
        })

      // ---- fetching: a loop per partition leader, at most one fetch in flight each ----
      const startFetching = () => {
        if (closed || positions.size === 0) return
        consumer.metadata({ topics }).then(
          (metadata) => {
            let leaderless = false
            for (const p of positions.values()) {
              const leader = metadata.topics.get(p.topic)?.partitions[p.partition]?.leader ?? -1
              if (leader < 0) leaderless = true
              else if (!runningNodes.has(leader)) {
                runningNodes.add(leader)
                fetchLoop(leader).catch((e: unknown) => buffer.fail(kafkaError("consume")(e)))
              }
            }
            if (leaderless) {
              consumer.clearMetadata()
              setTimeout(startFetching, 1_000)
            }
          },
          (e: unknown) => {
            connection.failed(now(), e)
            setTimeout(startFetching, 1_000)
          }
        )
      }

      const fetchLoop = async (node: number) => {
        // `closed` is set by the scope's finalizer.
        while (true) {
          if (closed) break
          let requested = new Map<Position, bigint>()
          let response: FetchResponse
          let names: Map<string, string>
          try {
            const metadata = await consumer.metadata({ topics })
            names = new Map([...metadata.topics].map(([name, t]) => [t.id, name]))
            const mine = [...positions.values()].filter((p) =>
              metadata.topics.get(p.topic)?.partitions[p.partition]?.leader === node
            )
            if (mine.length === 0) break
            requested = new Map(mine.map((p) => [p, p.offset]))
            response = await consumer.fetch({
              node,
              connectionPool: fetchPool,
              maxWaitTime: fetchMaxWaitMs,
              minBytes: 1,
              maxBytes: fetchMaxBytes,
              isolationLevel: FetchIsolationLevels.READ_COMMITTED,
              topics: [...groupByTopic(mine)].map(([topic, ps]) => ({
                topicId: metadata.topics.get(topic)!.id,
                partitions: ps.map((partition) => ({
                  partition,
                  fetchOffset: positions.get(`${topic}:${partition}`)!.offset,
                  partitionMaxBytes,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1
                }))
              }))
            })
          } catch (e) {
            if (closed) break
            if (hasError(e, "OFFSET_OUT_OF_RANGE")) {
              // The log no longer (or not yet) has the position: start over as a new group would.
              const stale = [...requested.keys()]
              const resets = await resetOffsets(consumer, stale, fromBeginning).catch(() => new Map<string, bigint>())
              for (const p of stale) p.offset = resets.get(partitionKey(p)) ?? p.offset
              continue
            }
            if (e instanceof Error && findErrorBy(e, "code", "PLT_KFK_TIMEOUT") !== null) connection.requestTimeouts++
            connection.failed(now(), e)
            // A leader may have moved: look again.
            consumer.clearMetadata()
            warn(`group ${groupId}: fetch from broker ${node} failed, retrying: ${(e as Error).message}`)
            await sleep(1_000)
            continue
          }
          connection.lastFetchAt = now()
          connection.contact(connection.lastFetchAt)
          const byKey = new Map([...requested.keys()].map((p) => [partitionKey(p), p]))
          for (const t of response.responses) {
            const topic = names.get(t.topicId) ?? t.topicId
            for (const { partitionIndex: partition, records: batches } of t.partitions) {
              const position = byKey.get(`${topic}:${partition}`)
              // Skip a partition revoked or reassigned meanwhile, or read by another loop (leader change).
              if (position === undefined || positions.get(partitionKey(position)) !== position) continue
              if (position.offset !== requested.get(position)) continue
              const { next, records } = toRecords(topic, partition, batches ?? [], position.offset)
              position.offset = next
              if (records.length > 0) await buffer.offer({ _tag: "Batch", topic, partition, records }, position.epoch)
            }
          }
        }
        runningNodes.delete(node)
        // A partition whose leader moved is picked up by the new leader's loop.
        if (!closed && positions.size > 0) startFetching()
      }

      yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => consumer.joinGroup({}), catch: kafkaError("subscribe") }),
        () =>
          Effect.promise(async () => {
            closed = true
            close()
            // Lets a fetch loop waiting for room return, so nothing holds up leaving the group.
            buffer.close()
            await consumer.close().catch(() => undefined)
            await fetchPool.close().catch(() => undefined)
            await group.connections.close().catch(() => undefined)
          })
      )

      const commit = (offsets: ReadonlyArray<CommitOffset>) => {
        const owned = offsets.filter((o) => buffer.isCurrent(o))
        if (owned.length === 0) return Effect.void
        if (fenced !== undefined) return Effect.fail(fenced)
        return Effect.tryPromise({
          try: () => commitWithMetadata(group, owned),
          catch: (e) => {
            if (hasError(e, "FENCED_INSTANCE_ID")) onFenced()
            return fenced ?? kafkaError("commit")(e)
          }
        }).pipe(Effect.asVoid)
      }

      return { ...buffer.subscription(commit, connection), rewind }
    })

    return KafkaSource.of({ subscribe })
  })
)
