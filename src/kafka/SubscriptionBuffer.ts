import { Cause, Effect, Queue, Stream } from "effect"
import type { KafkaError } from "./KafkaError.ts"
import {
  type AssignedPartition,
  type GroupMembership,
  type KafkaRecord,
  partitionKey,
  type RecordBatch,
  type SourceEvent,
  type TopicPartition
} from "./KafkaRecord.ts"
import type { SourceConnection, Subscription } from "./KafkaSource.ts"
import { RecordGate } from "./RecordGate.ts"

/**
 * The hand-over point between a Kafka consumer (kafkajs callbacks or the in-memory broker) and the
 * pipeline's Stream. It keeps three promises the pipelines rely on:
 * - order: assignment changes and batches come out in the order they happened;
 * - no stale data: a batch fetched under an assignment that has since been revoked is dropped, because
 *   the consumer restarts that partition from the committed offset anyway;
 * - bounded memory: at most `maxBufferedRecords` records, and at most `maxBufferedBytes` bytes of keys and
 *   values, wait between the consumer and the pipeline (a count alone is GBs when records are 100 KB+).
 */
export class SubscriptionBuffer {
  private readonly epochs = new Map<string, number>()
  private readonly assigned = new Map<string, TopicPartition>()
  /** Where each assigned partition starts: records before it (fetched before a seek) are dropped. */
  private readonly startOffsets = new Map<string, bigint>()
  readonly gate: RecordGate
  /** The same bound in bytes (keys + values). */
  readonly bytes: RecordGate
  readonly queue: Queue.Queue<SourceEvent | StampedBatch, KafkaError | Cause.Done>

  private constructor(
    queue: Queue.Queue<SourceEvent | StampedBatch, KafkaError | Cause.Done>,
    maxBuffered: number,
    maxBytes: number
  ) {
    this.queue = queue
    this.gate = new RecordGate(maxBuffered)
    this.bytes = new RecordGate(maxBytes)
  }

  static make = (maxBufferedRecords: number, maxBufferedBytes = Number.POSITIVE_INFINITY) =>
    Effect.map(
      Queue.unbounded<SourceEvent | StampedBatch, KafkaError | Cause.Done>(),
      (q) => new SubscriptionBuffer(q, maxBufferedRecords, maxBufferedBytes)
    )

  epochOf(tp: TopicPartition): number {
    return this.epochs.get(partitionKey(tp)) ?? 0
  }

  isAssigned(tp: TopicPartition): boolean {
    return this.assigned.has(partitionKey(tp))
  }

  assignedPartitions(): ReadonlyArray<TopicPartition> {
    return [...this.assigned.values()]
  }

  /** Replaces the whole assignment (Kafka's eager rebalance): everything held before is revoked. */
  reassign(partitions: ReadonlyArray<AssignedPartition>, membership?: GroupMembership): void {
    this.revokeAll()
    this.assign(partitions, membership)
  }

  /**
   * Adds partitions to the assignment (a cooperative rebalance, or the second half of a rewind); the
   * others carry on. Each is announced with its epoch: offsets read under it commit only while it lasts.
   */
  assign(partitions: ReadonlyArray<AssignedPartition>, membership?: GroupMembership): void {
    const added = partitions.map((p) => ({ ...p, epoch: this.epochOf(p) }))
    for (const p of added) {
      this.assigned.set(partitionKey(p), { topic: p.topic, partition: p.partition })
      if (p.committedOffset !== undefined) this.startOffsets.set(partitionKey(p), BigInt(p.committedOffset))
    }
    if (added.length > 0) Queue.offerUnsafe(this.queue, { _tag: "Assigned", partitions: added, membership })
  }

  /** Ends these partitions' epochs: whatever was fetched for them and not taken yet is dropped. */
  revoke(partitions: ReadonlyArray<TopicPartition>): void {
    const revoked = partitions.filter((tp) => this.isAssigned(tp)).map((tp) => this.assigned.get(partitionKey(tp))!)
    if (revoked.length === 0) return
    for (const tp of revoked) {
      const key = partitionKey(tp)
      this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1)
      this.assigned.delete(key)
      this.startOffsets.delete(key)
    }
    Queue.offerUnsafe(this.queue, { _tag: "Revoked", partitions: revoked })
  }

  revokeAll(): void {
    this.revoke([...this.assigned.values()])
  }

  /** True while `offset`'s partition is assigned in the epoch its records were read under (if it says). */
  isCurrent(offset: TopicPartition & { readonly epoch?: number | undefined }): boolean {
    return this.isAssigned(offset) && (offset.epoch === undefined || offset.epoch === this.epochOf(offset))
  }

  /**
   * Hands a batch over once there is room. `epoch` is the partition's epoch when the fetch started, so a
   * batch that waited across a rebalance is recognised as stale. Returns false if it was not delivered.
   */
  async offer(batch: RecordBatch, epoch: number, whileWaiting?: () => Promise<void>): Promise<boolean> {
    // A fetch larger than either bound is handed over in slices, so the bounds hold strictly (a single
    // record larger than the byte bound goes alone).
    const size = bytesOf(batch.records)
    if (batch.records.length > this.gate.max || size > this.bytes.max) {
      for (const records of slices(batch.records, this.gate.max, this.bytes.max)) {
        if (!(await this.offer({ ...batch, records }, epoch, whileWaiting))) return false
      }
      return true
    }
    const start = this.startOffsets.get(partitionKey(batch))
    if (start !== undefined && batch.records.length > 0 && BigInt(batch.records[0]!.offset) < start) {
      batch = { ...batch, records: batch.records.filter((r) => BigInt(r.offset) >= start) }
    }
    if (batch.records.length === 0 || epoch !== this.epochOf(batch)) return false
    const kept = batch.records.length === 0 ? 0 : bytesOf(batch.records)
    if (!(await this.gate.acquire(batch.records.length, whileWaiting))) return false
    const roomForBytes = await this.bytes.acquire(kept, whileWaiting).catch((e: unknown) => {
      this.gate.release(batch.records.length)
      throw e
    })
    if (!roomForBytes) {
      this.gate.release(batch.records.length)
      return false
    }
    if (epoch !== this.epochOf(batch)) {
      this.gate.release(batch.records.length)
      this.bytes.release(kept)
      return false
    }
    Queue.offerUnsafe(this.queue, { ...batch, epoch, bytes: kept })
    return true
  }

  /** The consumer's side handed to the pipeline: these events, its commit, the buffer's fill. */
  subscription(commit: Subscription["commit"], connection?: SourceConnection): Subscription {
    return {
      events: this.events,
      commit,
      bufferedRecords: Effect.sync(() => this.gate.size),
      bufferedBytes: Effect.sync(() => this.bytes.size),
      owns: (partition) => this.isCurrent(partition),
      ...(connection === undefined ? {} : { connection })
    }
  }

  fail(error: KafkaError): void {
    this.gate.close()
    this.bytes.close()
    Queue.failCauseUnsafe(this.queue, Cause.fail(error))
  }

  close(): void {
    this.gate.close()
    this.bytes.close()
    Queue.endUnsafe(this.queue)
  }

  /** The pipeline's view: stale batches filtered out, and their room given back as they are taken. */
  get events(): Stream.Stream<SourceEvent, KafkaError> {
    return Stream.fromQueue(this.queue).pipe(
      Stream.filter((event): event is SourceEvent => {
        if (event._tag !== "Batch") return true
        this.gate.release(event.records.length)
        this.bytes.release((event as StampedBatch).bytes)
        return (event as StampedBatch).epoch === this.epochOf(event)
      })
    )
  }
}

interface StampedBatch extends RecordBatch {
  readonly epoch: number
  /** What it holds of the byte bound. */
  readonly bytes: number
}

const bytesOf = (records: ReadonlyArray<KafkaRecord>): number => {
  let n = 0
  for (const r of records) n += (r.key?.length ?? 0) + (r.value?.length ?? 0)
  return n
}

/** Consecutive runs of records within both bounds. */
function* slices(records: ReadonlyArray<KafkaRecord>, maxRecords: number, maxBytes: number) {
  let start = 0
  let bytes = 0
  for (let i = 0; i < records.length; i++) {
    const size = (records[i]!.key?.length ?? 0) + (records[i]!.value?.length ?? 0)
    if (i > start && (i - start >= maxRecords || bytes + size > maxBytes)) {
      yield records.slice(start, i)
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (start < records.length) yield records.slice(start)
}
