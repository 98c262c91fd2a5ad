import { Cause, Effect, Queue, Stream } from "effect"
import type { KafkaError } from "./KafkaError.ts"
import {
  type AssignedPartition,
  partitionKey,
  type RecordBatch,
  type SourceEvent,
  type TopicPartition
} from "./KafkaRecord.ts"
import { RecordGate } from "./RecordGate.ts"

/**
 * The hand-over point between a Kafka consumer (kafkajs callbacks or the in-memory broker) and the
 * pipeline's Stream. It keeps three promises the pipelines rely on:
 * - order: assignment changes and batches come out in the order they happened;
 * - no stale data: a batch fetched under an assignment that has since been revoked is dropped, because
 *   the consumer restarts that partition from the committed offset anyway;
 * - bounded memory: at most `maxBufferedRecords` records wait between the consumer and the pipeline.
 */
export class SubscriptionBuffer {
  private readonly epochs = new Map<string, number>()
  private readonly assigned = new Map<string, TopicPartition>()
  /** Where each assigned partition starts: records before it (fetched before a seek) are dropped. */
  private readonly startOffsets = new Map<string, bigint>()
  readonly gate: RecordGate
  readonly queue: Queue.Queue<SourceEvent | StampedBatch, KafkaError | Cause.Done>

  private constructor(queue: Queue.Queue<SourceEvent | StampedBatch, KafkaError | Cause.Done>, maxBuffered: number) {
    this.queue = queue
    this.gate = new RecordGate(maxBuffered)
  }

  static make = (maxBufferedRecords: number) =>
    Effect.map(
      Queue.unbounded<SourceEvent | StampedBatch, KafkaError | Cause.Done>(),
      (q) => new SubscriptionBuffer(q, maxBufferedRecords)
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
  reassign(partitions: ReadonlyArray<AssignedPartition>): void {
    this.revokeAll()
    for (const p of partitions) {
      this.assigned.set(partitionKey(p), { topic: p.topic, partition: p.partition })
      if (p.committedOffset !== undefined) this.startOffsets.set(partitionKey(p), BigInt(p.committedOffset))
    }
    if (partitions.length > 0) Queue.offerUnsafe(this.queue, { _tag: "Assigned", partitions })
  }

  revokeAll(): void {
    if (this.assigned.size === 0) return
    const revoked = [...this.assigned.values()]
    for (const tp of revoked) {
      const key = partitionKey(tp)
      this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1)
    }
    this.assigned.clear()
    this.startOffsets.clear()
    Queue.offerUnsafe(this.queue, { _tag: "Revoked", partitions: revoked })
  }

  /**
   * Hands a batch over once there is room. `epoch` is the partition's epoch when the fetch started, so a
   * batch that waited across a rebalance is recognised as stale. Returns false if it was not delivered.
   */
  async offer(batch: RecordBatch, epoch: number, whileWaiting?: () => Promise<void>): Promise<boolean> {
    // A fetch larger than the bound is handed over in slices, so the bound holds strictly.
    if (batch.records.length > this.gate.max) {
      for (let i = 0; i < batch.records.length; i += this.gate.max) {
        const slice = { ...batch, records: batch.records.slice(i, i + this.gate.max) }
        if (!(await this.offer(slice, epoch, whileWaiting))) return false
      }
      return true
    }
    const start = this.startOffsets.get(partitionKey(batch))
    if (start !== undefined && batch.records.length > 0 && BigInt(batch.records[0]!.offset) < start) {
      batch = { ...batch, records: batch.records.filter((r) => BigInt(r.offset) >= start) }
    }
    if (batch.records.length === 0 || epoch !== this.epochOf(batch)) return false
    const admitted = await this.gate.acquire(batch.records.length, whileWaiting)
    if (!admitted) return false
    if (epoch !== this.epochOf(batch)) {
      this.gate.release(batch.records.length)
      return false
    }
    Queue.offerUnsafe(this.queue, { ...batch, epoch })
    return true
  }

  fail(error: KafkaError): void {
    this.gate.close()
    Queue.failCauseUnsafe(this.queue, Cause.fail(error))
  }

  close(): void {
    this.gate.close()
    Queue.endUnsafe(this.queue)
  }

  /** The pipeline's view: stale batches filtered out, and their room given back as they are taken. */
  get events(): Stream.Stream<SourceEvent, KafkaError> {
    return Stream.fromQueue(this.queue).pipe(
      Stream.filter((event): event is SourceEvent => {
        if (event._tag !== "Batch") return true
        this.gate.release(event.records.length)
        return (event as StampedBatch).epoch === this.epochOf(event)
      })
    )
  }
}

interface StampedBatch extends RecordBatch {
  readonly epoch: number
}
