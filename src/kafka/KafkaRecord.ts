/**
 * The shapes that cross the Kafka boundary. Both the kafkajs layers and the in-memory broker speak
 * exactly these, so pipelines and tests never see a driver type.
 */

/** A consumed record. `offset` is a decimal string because Kafka offsets are 64-bit. */
export interface KafkaRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  /** Record timestamp in epoch milliseconds (producer or broker time). */
  readonly timestamp: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers: Readonly<Record<string, Buffer>>
}

/** A record to produce. `partition` unset means "partition by key" (murmur2, as Java clients do). */
export interface OutgoingRecord {
  readonly topic: string
  readonly key?: Buffer | string | null | undefined
  readonly value: Buffer | string | null
  readonly headers?: Readonly<Record<string, Buffer | string>> | undefined
  readonly partition?: number | undefined
  readonly timestamp?: number | undefined
}

export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

/** An offset to commit: the next offset to read, as Kafka defines it, plus optional metadata. */
export interface CommitOffset extends TopicPartition {
  readonly offset: string
  readonly metadata?: string | undefined
  /**
   * The partition's assignment epoch its records were read under (see {@link RecordBatch.epoch}): a
   * source refuses the commit once that epoch is over, even if the partition came back since.
   */
  readonly epoch?: number | undefined
}

/** A partition handed to this consumer, with what the group committed for it (if anything). */
export interface AssignedPartition extends TopicPartition {
  readonly committedOffset: string | undefined
  readonly committedMetadata: string | undefined
  /**
   * True when there was nothing to read at assignment: the partition starts at its end (last stable
   * offset). Set by sources that look (platformatic, in-memory); undefined when unknown.
   */
  readonly caughtUp?: boolean | undefined
  /** The epoch this assignment opens (see {@link RecordBatch.epoch}). */
  readonly epoch?: number | undefined
}

/** Records of one partition, in offset order. */
export interface RecordBatch extends TopicPartition {
  readonly _tag: "Batch"
  readonly records: ReadonlyArray<KafkaRecord>
  /**
   * Counts the partition's revocations in this subscription: batches and commits of one assignment share
   * it. With cooperative rebalancing a partition can stay assigned across rebalances, or leave and come
   * back; this tells the two apart.
   */
  readonly epoch?: number | undefined
}

/** A transaction open on a producer, as the group coordinator must be told about it (TxnOffsetCommit). */
export interface OpenTransaction {
  readonly transactionalId: string
  readonly producerId: bigint
  readonly producerEpoch: number
}

/**
 * The consumer's membership in its group. A Kafka transaction commits its offsets as this member
 * (KIP-447): once the group has moved to a newer generation the coordinator refuses them, and offsets of
 * a partition the member no longer owns are refused before that, so a member that lost partitions can
 * never commit output for them.
 */
export interface GroupMembership {
  readonly groupId: string
  /** The generation it commits as (sources that keep partitions across rebalances: the current one). */
  readonly generationId: number
  readonly memberId: string
  /** True while `offset`'s partition is still this member's, in the epoch its records were read under. */
  readonly owns: (offset: CommitOffset) => boolean
  /** Commits `offsets` in `transaction` as this member; fails once the group has moved on. */
  readonly commitInTransaction: (
    transaction: OpenTransaction,
    offsets: ReadonlyArray<CommitOffset>
  ) => Promise<void>
}

export interface PartitionsAssigned {
  readonly _tag: "Assigned"
  readonly partitions: ReadonlyArray<AssignedPartition>
  /** Set by sources whose transactions can commit as a group member (platformatic, in-memory). */
  readonly membership?: GroupMembership | undefined
}

export interface PartitionsRevoked {
  readonly _tag: "Revoked"
  readonly partitions: ReadonlyArray<TopicPartition>
}

/**
 * What a subscription emits, in order. After `Revoked` no batch of those partitions arrives until
 * they are `Assigned` again, and then delivery restarts at the committed offset.
 */
export type SourceEvent = RecordBatch | PartitionsAssigned | PartitionsRevoked

export const partitionKey = (tp: TopicPartition): string => `${tp.topic}:${tp.partition}`

export const nextOffset = (offset: string): string => (BigInt(offset) + 1n).toString()

export const headerString = (record: KafkaRecord, name: string): string | undefined =>
  record.headers[name]?.toString("utf8")
