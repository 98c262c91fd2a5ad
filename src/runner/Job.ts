/**
 * What the runner interprets: one consumer group's work, as data. A job says where records come
 * from, how a batch is decoded, how valid values become output items (a plain map, or event-time
 * windows through the pure engine), and which of the three output kinds takes them — each kind is
 * one commit discipline, implemented once in PipelineRunner.
 */
import type { Effect } from "effect"
import type { DeadLetterSettings } from "../config/PipelineConfig.ts"
import type { CommitOffset, KafkaRecord, OutgoingRecord, TopicPartition } from "../kafka/KafkaRecord.ts"
import type { Topology } from "../observability/PipelineStats.ts"
import type { SchemaRegistryError } from "../schema-registry/SchemaRegistryError.ts"
import type { FailureKind } from "../shared/Retry.ts"
import type { Firing, WindowEngine, WindowRecord } from "../window/index.ts"
import type { Decoded } from "./BatchDecoder.ts"

/** Rows shown on the dashboard for each acknowledged output. */
export type Rows = ReadonlyArray<Record<string, unknown>>

export interface JobSource {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  readonly deadLetters: DeadLetterSettings
  /** Where a group with no committed offset starts (default: the earliest record). */
  readonly fromBeginning?: boolean | undefined
  /** Partitions consumed concurrently (default KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY). */
  readonly parallelism?: number | undefined
}

/** Values of a group of batches → output items, with no state across batches. */
export interface MapTransform<A, Item> {
  readonly _tag: "Map"
  readonly map: (valid: Decoded<A>["valid"]) => ReadonlyArray<Item>
}

/** Values → event-time windows (the pure engine); the items are the fired windows. */
export interface WindowedTransform<A, K, V, Out> {
  readonly _tag: "Windowed"
  readonly engine: WindowEngine<K, V, Out>
  /** Key, event time and value of each decoded record (pure, one pass). */
  readonly toWindowRecord: (value: A, record: KafkaRecord) => WindowRecord<K, V>
  /** Optional topic for records later than the allowed lateness (always counted). */
  readonly lateTopic?: string | undefined
}

/** In a job the engine's key, value and result types are erased; `windowedJob` checks them. */
export type Transform<A, Item> = MapTransform<A, Item> | WindowedTransform<A, unknown, unknown, unknown>

/** Written to any sink; then the offsets of what it acknowledged are committed (at-least-once, upserts). */
export interface AtLeastOnceOutput<Item, E, R> {
  readonly _tag: "AtLeastOnce"
  readonly write: (items: ReadonlyArray<Item>) => Effect.Effect<Rows, E, R>
  /** Which write failures are worth another attempt (default: all; permanent ones stop the job). */
  classify?(error: E): FailureKind
  /**
   * Writes that may be in flight at once (default 1). Above 1, writes of later batches may complete
   * first, so only for sinks where order across batches does not matter (upserts of distinct keys).
   */
  readonly concurrency?: number | undefined
}

/** Kafka records produced in the same Kafka transaction as the consumed offsets (exactly-once, Kafka to Kafka). */
export interface KafkaTransactionOutput<Item> {
  readonly _tag: "KafkaTransaction"
  readonly transactionalId: string
  readonly toRecords: (items: ReadonlyArray<Item>) => {
    readonly records: ReadonlyArray<OutgoingRecord>
    readonly rows: Rows
  }
}

/**
 * The sink stores the offset after a batch in the same transaction as the batch's rows, and the
 * source starts newly assigned partitions from the stored offsets (exactly-once into the sink).
 * Kafka commits follow for lag monitoring only. One batch (one partition) per write.
 */
export interface StoredOffsetsOutput<Item, E, R> {
  readonly _tag: "StoredOffsets"
  readonly startOffsets: (
    partitions: ReadonlyArray<TopicPartition>
  ) => Effect.Effect<ReadonlyArray<CommitOffset>, E, R>
  readonly write: (items: ReadonlyArray<Item>, offset: CommitOffset) => Effect.Effect<Rows, E, R>
  classify?(error: E): FailureKind
}

export type Output<Item, E, R> =
  | AtLeastOnceOutput<Item, E, R>
  | KafkaTransactionOutput<Item>
  | StoredOffsetsOutput<Item, E, R>

export interface Job<A, Item, E = never, R = never> {
  /** The name stats, logs and the dashboard use. */
  readonly name: string
  readonly source: JobSource
  /** Pure: splits a batch into valid values and malformed records. */
  readonly decode: (records: ReadonlyArray<KafkaRecord>) => Decoded<A>
  /**
   * Runs before `decode`, once for the batches prepared together: fetches what decoding needs from
   * elsewhere (a registry's schemas for the batch's distinct schema ids). It waits out outages itself;
   * a failure stops the job. Set by `inputDecoding` for INPUT_FORMAT=confluent-avro.
   */
  readonly resolveSchemas?:
    | ((records: ReadonlyArray<KafkaRecord>) => Effect.Effect<void, SchemaRegistryError>)
    | undefined
  readonly transform: Transform<A, Item>
  readonly output: Output<Item, E, R>
  /** How the dashboard draws the job (sources default to the topics). */
  readonly topology?: Partial<Topology> | undefined
  /** Offsets are committed at most this often (default 1 s), and on shutdown and revocation. */
  readonly commitIntervalMs?: number | undefined
  /** How often processing time reaches the job (commits of quiet pipelines, idle partitions; default 0.25 s). */
  readonly tickMs?: number | undefined
  /**
   * Transform steps that may run ahead of the output (default 1 with one write at a time: the next
   * batch is decoded and transformed while the previous output awaits its acknowledgement; 0 with
   * concurrent writes, which overlap the two already).
   */
  readonly aheadOfOutput?: number | undefined
  /** Runs after each acknowledged (or committed) output, with its rows (dashboard tallies). */
  readonly afterWrite?: ((rows: Rows) => Effect.Effect<void>) | undefined
}

/**
 * A stateless job: each decoded value becomes one item (`map`; the value itself when missing), and
 * the items of the batches waiting together go to the output in one write.
 */
export const statelessJob = <A, Item = A, E = never, R = never>(
  definition: Omit<Job<A, Item, E, R>, "transform"> & {
    readonly map?: ((value: A, record: KafkaRecord) => Item) | undefined
  }
): Job<A, Item, E, R> => {
  const { map: f = (value: A) => value as unknown as Item, ...rest } = definition
  return {
    ...rest,
    transform: {
      _tag: "Map",
      map: (valid) => {
        const out: Array<Item> = []
        for (let i = 0; i < valid.length; i++) out.push(f(valid[i]!.value, valid[i]!.record))
        return out
      }
    }
  }
}

/** A windowed job: the items are the windows the engine fires, batch by batch, in order. */
export const windowedJob = <A, K, V, Out, E = never, R = never>(
  definition: Omit<Job<A, Firing<K, Out>, E, R>, "transform"> & {
    readonly windows: Omit<WindowedTransform<A, K, V, Out>, "_tag">
  }
): Job<A, Firing<K, Out>, E, R> => {
  const { windows, ...rest } = definition
  // The runner only moves the engine's values around; their types were checked above.
  const transform = { _tag: "Windowed", ...windows } as unknown as WindowedTransform<A, unknown, unknown, unknown>
  return { ...rest, transform }
}
