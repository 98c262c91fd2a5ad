/**
 * The parts of @platformatic/kafka below its consumer's public methods that PlatformaticSource needs:
 * offsets committed and read back with their metadata (the consumer's own `commit` sends none, and
 * `listCommittedOffsets` returns none), and fetch responses turned into KafkaRecords.
 */
import {
  type API,
  type Broker,
  type ConnectionPool,
  type Consumer,
  findErrorBy,
  IS_CONTROL,
  kGetApi,
  ListOffsetTimestamps,
  type SASLOptions
} from "@platformatic/kafka"
import type { SASLOptions as KafkaJsSasl } from "kafkajs"
import type { KafkaSettings } from "../config/KafkaConfig.ts"
import type { KafkaClient } from "./KafkaClient.ts"
import {
  type CommitOffset,
  type GroupMembership,
  type KafkaRecord,
  type OpenTransaction,
  partitionKey,
  type TopicPartition
} from "./KafkaRecord.ts"

export type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>
type RecordsBatch = NonNullable<FetchResponse["responses"][number]["partitions"][number]["records"]>[number]

/** Connection settings (timeouts, TLS, SASL) from the same configuration as the kafkajs client. */
export const connectionOptions = (client: KafkaClient["Service"], settings: KafkaSettings) => ({
  connectTimeout: settings.connectionTimeoutMs,
  requestTimeout: settings.requestTimeoutMs,
  ...(typeof client.ssl === "object" ? { tls: client.ssl } : {}),
  ...(client.sasl === undefined ? {} : { sasl: toPlatformaticSasl(client.sasl) })
})

export const hasError = (e: unknown, apiId: string): boolean =>
  e instanceof Error && findErrorBy(e, "apiId", apiId) !== null

/**
 * A group consumer, and connections of its own for the requests of this module. The consumer's
 * connection to the coordinator carries its JoinGroup, which the broker holds until the rebalance
 * completes (a broker answers a connection's requests in order): a commit or offset lookup sent behind it
 * would wait as long, and with cooperative rebalancing the kept partitions go on meanwhile.
 */
export interface GroupClient {
  readonly consumer: Consumer
  readonly connections: ConnectionPool
}

/** Sends one request to the consumer's group coordinator, in the newest version both sides speak. */
const groupRequest = async <A extends Array<unknown>, R>(
  { connections, consumer }: GroupClient,
  name: string,
  minVersion: number,
  ...args: A
): Promise<R> => {
  const api = await new Promise<API<A, R>>((resolve, reject) =>
    consumer[kGetApi]<A, R>(name, (e, a) => (e === null && a !== undefined ? resolve(a) : reject(e)))
  )
  if (api.version < minVersion) throw new Error(`the broker's ${name} API is older than version ${minVersion}`)
  const coordinator = await consumer.findGroupCoordinator()
  const broker: Broker | undefined = (await consumer.metadata({ topics: consumer.topics.current })).brokers.get(
    coordinator
  )
  if (broker === undefined) throw new Error(`group coordinator ${coordinator} is not in the cluster metadata`)
  return api.async(await connections.get(broker), ...args)
}

/** OffsetFetch v8+ (a list of groups per request; every Kafka since 3.0). */
interface OffsetFetchResponse {
  readonly groups: ReadonlyArray<{
    readonly topics: ReadonlyArray<{
      readonly name: string
      readonly partitions: ReadonlyArray<
        { readonly partitionIndex: number; readonly committedOffset: bigint; readonly metadata: string | null }
      >
    }>
  }>
}

export interface Committed {
  readonly offset: bigint
  readonly metadata: string | undefined
}

/**
 * The group's committed offsets and metadata ("topic:partition" → commit; partitions without one are
 * absent). Asks for stable offsets: while a transaction that commits offsets is open the broker answers
 * UNSTABLE_OFFSET_COMMIT, and this waits for it to end (up to 10 s).
 */
export const committedOffsets = async (
  group: GroupClient,
  partitions: ReadonlyArray<TopicPartition>,
  attempt = 0
): Promise<Map<string, Committed>> => {
  const topics = [...groupByTopic(partitions)].map(([name, partitionIndexes]) => ({ name, partitionIndexes }))
  try {
    const response = await groupRequest<[Array<unknown>, boolean], OffsetFetchResponse>(
      group,
      "OffsetFetch",
      8,
      [{ groupId: group.consumer.groupId, memberId: null, memberEpoch: -1, topics }],
      true
    )
    const out = new Map<string, Committed>()
    for (const t of response.groups[0]?.topics ?? []) {
      for (const p of t.partitions) {
        if (p.committedOffset < 0n) continue
        out.set(`${t.name}:${p.partitionIndex}`, { offset: p.committedOffset, metadata: p.metadata ?? undefined })
      }
    }
    return out
  } catch (e) {
    if (attempt >= 50 || !hasError(e, "UNSTABLE_OFFSET_COMMIT")) throw e
    await new Promise((resolve) => setTimeout(resolve, 200))
    return committedOffsets(group, partitions, attempt + 1)
  }
}

/** Offsets with their metadata as OffsetCommit and TxnOffsetCommit take them, grouped by topic. */
const offsetTopics = (offsets: ReadonlyArray<CommitOffset>) => {
  const topics = new Map<string, Array<unknown>>()
  for (const o of offsets) {
    const partitions = topics.get(o.topic) ?? []
    partitions.push({
      partitionIndex: o.partition,
      committedOffset: BigInt(o.offset),
      committedLeaderEpoch: -1,
      committedMetadata: o.metadata ?? null
    })
    topics.set(o.topic, partitions)
  }
  return [...topics].map(([name, partitions]) => ({ name, partitions }))
}

/** OffsetCommit with metadata, as the consumer's current generation, member id and instance id (v7+). */
export const commitWithMetadata = (group: GroupClient, offsets: ReadonlyArray<CommitOffset>): Promise<unknown> =>
  groupRequest<[string, number, string, string | null, Array<unknown>], unknown>(
    group,
    "OffsetCommit",
    7,
    group.consumer.groupId,
    group.consumer.generationId,
    group.consumer.memberId ?? "",
    group.consumer.groupInstanceId,
    offsetTopics(offsets)
  )

/** A transaction's offsets include a partition this member lost (or lost and got back) since reading it. */
export class PartitionsMoved extends Error {
  constructor(partitions: ReadonlyArray<TopicPartition>) {
    super(`partitions moved since they were read: ${partitions.map(partitionKey).join(", ")}`)
    this.name = "PartitionsMoved"
  }
}

/**
 * The consumer's membership, live, for transactions. TxnOffsetCommit v3+ carries the generation and member
 * id (KIP-447) and the coordinator refuses it once the group has moved on; `owns` says whether a partition
 * is still this member's in the epoch its records were read under. Both are read together, right before
 * the request: a partition kept across a cooperative rebalance commits as the new generation, one that
 * moved is refused here. That is safe because the source drops a partition (`owns` turns false) before
 * its consumer sends the JoinGroup that could move it (see PlatformaticSource), while the generation the
 * consumer holds changes only with that JoinGroup's answer.
 */
export const liveMembership = (
  group: GroupClient,
  owns: (offset: CommitOffset) => boolean
): GroupMembership => {
  const { consumer } = group
  return {
    groupId: consumer.groupId,
    get generationId() {
      return consumer.generationId
    },
    get memberId() {
      return consumer.memberId ?? ""
    },
    owns,
    commitInTransaction: async (transaction: OpenTransaction, offsets: ReadonlyArray<CommitOffset>) => {
      const moved = offsets.filter((o) => !owns(o))
      if (moved.length > 0) throw new PartitionsMoved(moved)
      const { generationId, groupId, groupInstanceId } = consumer
      await groupRequest<[string, string, bigint, number, number, string, string | null, Array<unknown>], unknown>(
        group,
        "TxnOffsetCommit",
        3,
        transaction.transactionalId,
        groupId,
        transaction.producerId,
        transaction.producerEpoch,
        generationId,
        consumer.memberId ?? "",
        groupInstanceId,
        offsetTopics(offsets)
      )
    }
  }
}

/** Errors by which the group coordinator says a member's generation is over: its work is stale, not failed. */
export const isStaleMembership = (e: unknown): boolean =>
  e instanceof PartitionsMoved ||
  ["ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID", "REBALANCE_IN_PROGRESS"].some((code) =>
    hasError(e, code)
  )

/** Where partitions with no start offset begin: the log's start (fromBeginning) or its end. */
export const resetOffsets = async (
  consumer: Consumer,
  partitions: ReadonlyArray<TopicPartition>,
  fromBeginning: boolean
): Promise<Map<string, bigint>> => {
  const out = new Map<string, bigint>()
  if (partitions.length === 0) return out
  const listed = await consumer.listOffsets({
    topics: [...new Set(partitions.map((p) => p.topic))],
    partitions: Object.fromEntries(groupByTopic(partitions)),
    timestamp: fromBeginning ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST
  })
  for (const p of partitions) {
    const offset = listed.get(p.topic)?.[p.partition]
    if (offset === undefined) throw new Error(`no offset listed for ${partitionKey(p)}`)
    out.set(partitionKey(p), offset)
  }
  return out
}

export const groupByTopic = (partitions: ReadonlyArray<TopicPartition>): Map<string, Array<number>> => {
  const out = new Map<string, Array<number>>()
  for (const p of partitions) out.set(p.topic, [...(out.get(p.topic) ?? []), p.partition])
  return out
}

const noHeaders: Readonly<Record<string, Buffer>> = Object.freeze({})
const logAppendTime = 0x08

/** One partition's fetched record batches → its records from `from` on, and the offset to fetch next. */
export const toRecords = (topic: string, partition: number, batches: ReadonlyArray<RecordsBatch>, from: bigint) => {
  const records: Array<KafkaRecord> = []
  let next = from
  const start = Number(from)
  for (const batch of batches) {
    const end = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n
    if (end > next) next = end
    // Transaction markers take an offset but are no record.
    if ((batch.attributes & IS_CONTROL) !== 0) continue
    // Offsets and epoch milliseconds stay far below 2^53: number arithmetic per record, bigint per batch.
    const first = Number(batch.firstOffset)
    const firstTimestamp = Number(batch.firstTimestamp)
    const appendTime = (batch.attributes & logAppendTime) !== 0 ? Number(batch.maxTimestamp) : undefined
    for (const r of batch.records) {
      const offset = first + r.offsetDelta
      if (offset < start) continue
      records.push({
        topic,
        partition,
        offset: String(offset),
        timestamp: appendTime ?? firstTimestamp + Number(r.timestampDelta),
        key: r.key,
        value: r.value,
        headers: headersOf(r.headers)
      })
    }
  }
  return { next, records }
}

const headersOf = (headers: ReadonlyArray<[Buffer | null, Buffer | null]>): Readonly<Record<string, Buffer>> => {
  if (headers.length === 0) return noHeaders
  const out: Record<string, Buffer> = {}
  // The first value of a repeated key, as the kafkajs source keeps it.
  for (const [k, v] of headers) if (k !== null && v !== null) out[k.toString("utf8")] ??= v
  return out
}

/** KAFKA_SASL_MECHANISM allows exactly these three (see KafkaConfig). */
const saslMechanisms = { plain: "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512" } as const

const toPlatformaticSasl = (sasl: KafkaJsSasl): SASLOptions => {
  const { mechanism, password, username } = sasl as Extract<KafkaJsSasl, { mechanism: keyof typeof saslMechanisms }>
  return { mechanism: saslMechanisms[mechanism], username, password }
}
