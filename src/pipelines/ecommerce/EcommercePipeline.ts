import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import { ecommerceGroups, type EcommerceSettings } from "../../config/EcommerceConfig.ts"
import {
  type EcommerceRow,
  EcommerceTransaction,
  isFailedPayment,
  toEcommerceRow,
  utcDate
} from "../../domain/EcommerceTransaction.ts"
import type { MalformedRecord } from "../../domain/MalformedRecord.ts"
import type { KafkaError } from "../../kafka/KafkaError.ts"
import { isEmbedded } from "../../kafka/KafkaLayer.ts"
import { type KafkaRecord, nextOffset, type OutgoingRecord, type SourceEvent } from "../../kafka/KafkaRecord.ts"
import { KafkaSink } from "../../kafka/KafkaSink.ts"
import { KafkaSource } from "../../kafka/KafkaSource.ts"
import { PipelineRegistry } from "../../observability/PipelineStats.ts"
import { EcommerceStore, type PostgresSinkError } from "../../sinks/postgres/EcommerceStore.ts"
import { InMemorySearchIndex, SearchIndexer, transactionDocument } from "../../sinks/search/SearchIndexer.ts"
import { Aggregator, type Firing, makeWindowEngine, tumbling } from "../../window/index.ts"
import { handleMalformed } from "../shared/DeadLetters.ts"
import { type Decoded, jsonBatchDecoder } from "../shared/JsonDecoder.ts"
import { makeOffsetCommitter } from "../shared/OffsetCommitter.ts"
import { retryTransient, runStatelessPipeline, trackAssignment, withCommitTicks } from "../shared/StatelessPipeline.ts"
import { runWindowedPipeline } from "../shared/WindowedPipeline.ts"

/*
 * Seed 002, one topic, three outputs. Each output is its own consumer group in this process
 * (`<ECOMMERCE_GROUP_ID>.postgres`, `.search`, `.alerts`): Kafka does the fan-out, each group keeps its
 * own offsets, so a slow or stopped output only makes ITS group lag (bounded by the topic's retention,
 * not by memory) and catches up when it returns, while the others keep going. A single consumption
 * with per-output queues would have to either block everyone on the slowest output or buffer without
 * bound. The user still runs one command (`run ecommerce`).
 *
 * Malformed records are dead-lettered once, by the PostgreSQL group; the other groups ignore them.
 */

const decodeTransactions = jsonBatchDecoder(EcommerceTransaction)

/** Pure: validated rows (integer cents, epoch ms) plus the malformed records of a batch. */
export const decodeEcommerce = (records: ReadonlyArray<KafkaRecord>): Decoded<EcommerceRow> => {
  const { malformed, valid } = decodeTransactions(records)
  return { valid: valid.map((v) => ({ record: v.record, value: toEcommerceRow(v.value) })), malformed }
}

/** For the groups that do not own dead-lettering: only the valid rows. */
const decodeValidOnly = (records: ReadonlyArray<KafkaRecord>): Decoded<EcommerceRow> => ({
  valid: decodeEcommerce(records).valid,
  malformed: []
})

const display = (rows: ReadonlyArray<EcommerceRow>) => rows as unknown as ReadonlyArray<Record<string, unknown>>

/** A row's total amount in currency units, for the dashboard's sales charts. */
const salesAmount = (row: EcommerceRow) => row.totalAmountCents / 100

/**
 * PostgreSQL, exactly-once: per partition batch, malformed records go to the dead-letter policy, then
 * ONE statement stores the rows, the aggregate increments of the rows it actually inserted, and the
 * offset after the batch (EcommerceStore). The source starts newly assigned partitions at the offsets
 * stored in PostgreSQL. The Kafka commits (coalesced, once a second) are only for lag monitoring.
 */
export const runPostgresSink = (settings: EcommerceSettings) =>
  Effect.gen(function*() {
    const store = yield* EcommerceStore
    const source = yield* KafkaSource
    const sink = yield* KafkaSink
    const stats = yield* (yield* PipelineRegistry).register("ecommerce")
    const groupId = ecommerceGroups(settings.groupId).postgres
    yield* retryTransient("PostgreSQL migrations", store.migrate)

    const subscription = yield* source.subscribe({
      groupId,
      topics: [settings.topic],
      startOffsets: (partitions) =>
        retryTransient("read offsets from PostgreSQL", store.startOffsets(groupId, partitions))
    })
    const committer = makeOffsetCommitter(subscription, stats, 1_000)
    yield* Effect.logInfo(`ecommerce → PostgreSQL consuming ${settings.topic} as group ${groupId}`)

    const sendDeadLetters = (records: ReadonlyArray<OutgoingRecord>) =>
      retryTransient("dead-letter produce", sink.send(records))

    const onEvent = (
      event: SourceEvent | "tick"
    ): Effect.Effect<void, MalformedRecord | KafkaError | PostgresSinkError> => {
      if (event === "tick") return committer.flushIfDue
      if (event._tag === "Revoked") {
        return Effect.andThen(committer.forget(event.partitions), trackAssignment(stats, event))
      }
      if (event._tag !== "Batch") {
        return trackAssignment(stats, event)
      }
      const last = event.records[event.records.length - 1]!
      const next = nextOffset(last.offset)
      return Effect.gen(function*() {
        yield* stats.consumed(event.records.length)
        const { malformed, valid } = decodeEcommerce(event.records)
        yield* handleMalformed(stats, settings.deadLetters, malformed, sendDeadLetters)
        const rows = valid.map((v) => v.value)
        // Also for an all-malformed batch: the stored offset must move past it.
        yield* retryTransient(
          "PostgreSQL write",
          store.writeBatch({ groupId, topic: event.topic, partition: event.partition, nextOffset: next, rows })
        )
        yield* stats.written(display(rows))
        yield* stats.tallyAll("sales per category", rows, (r) => r.productCategory, salesAmount)
        yield* stats.tallyAll("sales per day", rows, (r) => utcDate(r.transactionTime), salesAmount)
        yield* committer.mark([{ topic: event.topic, partition: event.partition, offset: next }])
      }).pipe(
        Effect.uninterruptible,
        Effect.annotateLogs({ pipeline: "ecommerce", partition: event.partition, offset: last.offset })
      )
    }
    return yield* withCommitTicks(subscription.events).pipe(
      Stream.runForEach(onEvent),
      Effect.ensuring(committer.flush)
    )
  })

/**
 * Elasticsearch/OpenSearch: every valid transaction indexed with `_id = transactionId`, the group's
 * offsets committed to Kafka after the bulk is acknowledged. A replay re-indexes the same ids, so the
 * index holds one document per transaction.
 */
export const runSearchSink = (settings: EcommerceSettings) =>
  Effect.gen(function*() {
    const indexer = yield* SearchIndexer
    yield* retryTransient("search index setup", indexer.ensureIndex)
    return yield* runStatelessPipeline({
      name: "ecommerce-search",
      groupId: ecommerceGroups(settings.groupId).search,
      topics: [settings.topic],
      deadLetters: settings.deadLetters,
      decode: decodeValidOnly,
      write: (valid) => {
        const rows = valid.map((v) => v.value)
        return Effect.as(indexer.index(rows.map(transactionDocument)), display(rows))
      }
    })
  })

export const ALERT_KEY = "failed-payments"
const minuteMs = 60_000

/**
 * The failed-payments window engine: per source partition, 1-minute tumbling event-time windows over
 * `transactionDate`, counting transactions whose payment failed. Every transaction goes in (counted 0
 * when it did not fail) so that the safe offset keeps moving in minutes without failures.
 */
export const makeFailedPaymentsEngine = (outOfOrdernessMs: number) =>
  makeWindowEngine<string, boolean, number, number>({
    assigner: tumbling(minuteMs),
    aggregator: Aggregator.contramap(Aggregator.count, (failed: boolean) => (failed ? true : undefined)),
    outOfOrdernessMs,
    // A partition that goes quiet must not hold every other partition's minutes back.
    idleTimeoutMs: 30_000
  })

/** The alert record of a closed minute (key: source topic, partition and minute, so replays are recognisable). */
export const failedPaymentsAlert = (
  sourceTopic: string,
  alertsTopic: string,
  firing: Firing<string, number>
): OutgoingRecord => {
  const windowStart = new Date(firing.window.start).toISOString()
  return {
    topic: alertsTopic,
    key: `${sourceTopic}/${firing.partition}/${windowStart}`,
    value: JSON.stringify({
      alert: ALERT_KEY,
      windowStart,
      windowEnd: new Date(firing.window.end).toISOString(),
      failedPayments: firing.result,
      sourceTopic,
      partition: firing.partition
    })
  }
}

/**
 * Failed payments per minute to `payment-alerts`, exactly-once: the alerts of closed minutes and the
 * consumed offsets (with the window checkpoint as metadata) go in one Kafka transaction.
 * Counts are per source partition and minute (a minute's total is the sum over partitions): window
 * state stays with the partition that owns it, so the pipeline scales out and restarts like the others.
 */
export const runFailedPaymentAlerts = (settings: EcommerceSettings) =>
  // E and R spelled out: a Transactional output has no write effect to infer them from.
  runWindowedPipeline<EcommerceRow, string, boolean, number, never, never>({
    name: "ecommerce-alerts",
    groupId: ecommerceGroups(settings.groupId).alerts,
    topic: settings.topic,
    deadLetters: settings.deadLetters,
    decode: decodeValidOnly,
    toWindowRecord: (row: EcommerceRow, record: KafkaRecord) => ({
      offset: Number(record.offset),
      eventTime: row.transactionTime,
      key: ALERT_KEY,
      value: isFailedPayment(row.paymentStatus)
    }),
    engine: makeFailedPaymentsEngine(settings.alertsOutOfOrdernessMs),
    // One transactional producer allows one open transaction: partitions are processed one at a time.
    parallelism: 1,
    output: {
      _tag: "Transactional",
      transactionalId: settings.alertsTransactionalId,
      toRecords: (fired) => {
        const alerts = fired.filter((f) => f.result >= settings.alertsThreshold)
        return {
          records: alerts.map((f) => failedPaymentsAlert(settings.topic, settings.alertsTopic, f)),
          rows: alerts.map((f) => ({ windowStart: new Date(f.window.start).toISOString(), failedPayments: f.result }))
        }
      }
    }
  })

/**
 * All three outputs, concurrently, over the EcommerceStore and SearchIndexer in context. A failure of
 * one (only non-transient ones reach here: `fail` dead-letter policy, a bug) stops the whole pipeline.
 */
export const runEcommerceSinks = (settings: EcommerceSettings) =>
  Effect.all(
    [
      runPostgresSink(settings).pipe(Effect.scoped),
      runSearchSink(settings).pipe(Effect.scoped),
      runFailedPaymentAlerts(settings).pipe(Effect.scoped)
    ],
    { concurrency: "unbounded", discard: true }
  )

/** PostgreSQL at DATABASE_URL and the search engine at SEARCH_URL (undici HTTP client). */
export const ecommerceSinksLayer = (settings: EcommerceSettings) =>
  Layer.mergeAll(
    EcommerceStore.layerPostgres(settings.postgres),
    SearchIndexer.layer(settings.search).pipe(Layer.provide(NodeHttpClient.layerUndici))
  )

/** The real stores, or in the embedded demo (no Kafka configured) in-memory ones, so the demo needs no services. */
export const ecommerceSinksFromConfig = (settings: EcommerceSettings) =>
  Layer.unwrap(Effect.map(isEmbedded, (embedded) =>
    embedded
      ? Layer.mergeAll(EcommerceStore.layerMemory(), new InMemorySearchIndex().layer())
      : ecommerceSinksLayer(settings)))

/** `run ecommerce`: the three outputs with the stores the configuration names. */
export const runEcommercePipeline = (settings: EcommerceSettings) =>
  runEcommerceSinks(settings).pipe(Effect.provide(ecommerceSinksFromConfig(settings)))

/** `setup ecommerce`: the PostgreSQL schema and the search index template + index. Idempotent. */
export const setupEcommerce = (settings: EcommerceSettings) =>
  Effect.gen(function*() {
    yield* (yield* EcommerceStore).migrate
    yield* (yield* SearchIndexer).ensureIndex
    yield* Effect.logInfo("ecommerce: PostgreSQL schema and search index are in place")
  }).pipe(Effect.provide(ecommerceSinksLayer(settings)))
