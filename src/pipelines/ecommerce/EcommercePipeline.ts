import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { ecommerceGroups, type EcommerceSettings, ecommerceSettings } from "../../config/EcommerceConfig.ts"
import {
  type EcommerceRow,
  EcommerceTransaction,
  isFailedPayment,
  toEcommerceRow,
  utcDate
} from "../../domain/EcommerceTransaction.ts"
import {
  Aggregator,
  allTransient,
  type Decoded,
  definePipeline,
  ensureTopics,
  errorText,
  type Firing,
  type InputDecoding,
  inputDecoding,
  jsonBatchDecoder,
  type KafkaRecord,
  makeWindowEngine,
  mapDecoding,
  type OutgoingRecord,
  PipelineRegistry,
  retryWith,
  runPipelineWith,
  SearchIndexer,
  statelessJob,
  tumbling,
  windowedJob
} from "../../index.ts"
import { EcommerceSimulator } from "../../simulator/EcommerceSimulator.ts"
import { classifyPostgresError, EcommerceStore } from "../../sinks/postgres/EcommerceStore.ts"
import { transactionDocument } from "../../sinks/search/SearchIndexer.ts"

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

/** Pure: validated transactions as rows (integer cents, epoch ms), malformed records kept. */
const toRows = ({ malformed, valid }: Decoded<EcommerceTransaction>): Decoded<EcommerceRow> => ({
  valid: valid.map((v) => ({ record: v.record, value: toEcommerceRow(v.value) })),
  malformed
})

/** For the groups that do not own dead-lettering: only the valid rows. */
const validOnly = ({ valid }: Decoded<EcommerceRow>): Decoded<EcommerceRow> => ({ valid, malformed: [] })

const decodeTransactions = jsonBatchDecoder(EcommerceTransaction)

/** JSON input: validated rows plus the malformed records of a batch. */
export const decodeEcommerce = (records: ReadonlyArray<KafkaRecord>): Decoded<EcommerceRow> =>
  toRows(decodeTransactions(records))

type RowDecoding = InputDecoding<EcommerceRow>

const display = (rows: ReadonlyArray<EcommerceRow>) => rows as unknown as ReadonlyArray<Record<string, unknown>>

/** A row's total amount in currency units, for the dashboard's sales charts. */
const salesAmount = (row: EcommerceRow) => row.totalAmountCents / 100

/** Retries logged under the job's name (set-up calls made before the runner takes over). */
const retryLogged = (what: string) =>
  retryWith({ classify: allTransient, onRetry: (e) => Effect.logWarning(`${what} failed, retrying: ${errorText(e)}`) })

/**
 * PostgreSQL, exactly-once: per partition batch, malformed records go to the dead-letter policy, then
 * ONE statement stores the rows, the aggregate increments of the rows it actually inserted, and the
 * offset after the batch (EcommerceStore). The source starts newly assigned partitions at the offsets
 * stored in PostgreSQL. The Kafka commits (coalesced, once a second) are only for lag monitoring.
 */
const postgresJob = Effect.fn("EcommercePipeline.postgresJob")(function*(
  settings: EcommerceSettings,
  input: RowDecoding
) {
  const store = yield* EcommerceStore
  const stats = yield* (yield* PipelineRegistry).register("ecommerce")
  const groupId = ecommerceGroups(settings.groupId).postgres
  yield* store.migrate.pipe(retryLogged("PostgreSQL migrations"))
  return statelessJob({
    name: "ecommerce",
    source: { groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
    ...input,
    output: {
      _tag: "StoredOffsets",
      classify: classifyPostgresError,
      startOffsets: (partitions) => store.startOffsets(groupId, partitions),
      write: (rows: ReadonlyArray<EcommerceRow>, offset) =>
        store.writeBatch({ groupId, topic: offset.topic, partition: offset.partition, nextOffset: offset.offset, rows })
          .pipe(
            Effect.andThen(stats.tallyAll("sales per category", rows, (r) => r.productCategory, salesAmount)),
            Effect.andThen(stats.tallyAll("sales per day", rows, (r) => utcDate(r.transactionTime), salesAmount)),
            Effect.as(display(rows))
          )
    }
  })
})

/**
 * Elasticsearch/OpenSearch: every valid transaction indexed with `_id = transactionId`, the group's
 * offsets committed to Kafka after the bulk is acknowledged. A replay re-indexes the same ids, so the
 * index holds one document per transaction.
 */
const searchJob = Effect.fn("EcommercePipeline.searchJob")(function*(
  settings: EcommerceSettings,
  input: RowDecoding
) {
  const indexer = yield* SearchIndexer
  yield* indexer.ensureIndex.pipe(retryLogged("search index setup"))
  return statelessJob({
    name: "ecommerce-search",
    source: {
      groupId: ecommerceGroups(settings.groupId).search,
      topics: [settings.topic],
      deadLetters: settings.deadLetters
    },
    ...mapDecoding(input, validOnly),
    output: {
      _tag: "AtLeastOnce",
      // Documents upsert by `_id`: a later bulk may be acknowledged first.
      concurrency: 2,
      write: (rows: ReadonlyArray<EcommerceRow>) =>
        Effect.as(indexer.index(rows.map(transactionDocument)), display(rows))
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
const alertsJob = (settings: EcommerceSettings, input: RowDecoding) =>
  windowedJob({
    name: "ecommerce-alerts",
    source: {
      groupId: ecommerceGroups(settings.groupId).alerts,
      topics: [settings.topic],
      deadLetters: settings.deadLetters,
      // One transactional producer allows one open transaction: partitions are processed one at a time.
      parallelism: 1
    },
    ...mapDecoding(input, validOnly),
    windows: {
      engine: makeFailedPaymentsEngine(settings.alertsOutOfOrdernessMs),
      toWindowRecord: (row: EcommerceRow, record: KafkaRecord) => ({
        offset: Number(record.offset),
        eventTime: row.transactionTime,
        key: ALERT_KEY,
        value: isFailedPayment(row.paymentStatus)
      })
    },
    output: {
      _tag: "KafkaTransaction",
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

/** The real stores: PostgreSQL at DATABASE_URL and the search engine at SEARCH_URL (undici HTTP client). */
export const ecommerceSinksLayer = (settings: EcommerceSettings) =>
  Layer.mergeAll(
    EcommerceStore.layer(settings.postgres),
    SearchIndexer.layer(settings.search).pipe(Layer.provide(NodeHttpClient.layerUndici))
  )

export const ecommercePipeline = definePipeline({
  name: "ecommerce",
  input: "ecommerce",
  description: "Faker e-commerce transactions → PostgreSQL rows + sales aggregates (exactly-once), " +
    "Elasticsearch/OpenSearch documents, failed payments per minute → payment-alerts (seed 002)",
  settings: ecommerceSettings,
  sourceTopics: (settings) => [settings.topic],
  adapters: (settings) => ({
    layer: ecommerceSinksLayer(settings),
    layerInMemory: Layer.mergeAll(EcommerceStore.layerInMemory(), SearchIndexer.layerInMemory())
  }),
  /**
   * Three outputs, three consumer groups (see the top of this file); a failure of one (only
   * non-transient ones reach the runner: `fail` dead-letter policy, a bug) stops the whole pipeline.
   */
  jobs: (settings) =>
    Effect.gen(function*() {
      // The alerts go out in Kafka transactions, which should not rely on auto-created topics.
      yield* ensureTopics([settings.alertsTopic])
      // INPUT_FORMAT decides how the three groups decode the same input (one registry client).
      const input = mapDecoding(yield* inputDecoding(settings.input, EcommerceTransaction), toRows)
      return yield* Effect.all([
        postgresJob(settings, input),
        searchJob(settings, input),
        Effect.succeed(alertsJob(settings, input))
      ])
    }),
  simulate: (settings, sim) =>
    Effect.sync(() => {
      const simulator = new EcommerceSimulator(sim.seed, sim.malformedShare)
      return { topic: settings.topic, ratePerSecond: sim.ratePerSecond, batch: (n, now) => simulator.batch(n, now) }
    }),
  /** The PostgreSQL schema and the search index template + index. Idempotent. */
  setup: () =>
    Effect.gen(function*() {
      yield* (yield* EcommerceStore).migrate
      yield* (yield* SearchIndexer).ensureIndex
      yield* Effect.logInfo("ecommerce: PostgreSQL schema and search index are in place")
    })
})

/** The three outputs over the EcommerceStore and SearchIndexer in context, until interrupted. */
export const runEcommerceSinks = (settings: EcommerceSettings) => runPipelineWith(ecommercePipeline, settings)
