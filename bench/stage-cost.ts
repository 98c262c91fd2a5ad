/**
 * CPU cost per record of each in-process stage of the two benchmarked pipelines, with no Kafka: the
 * bench's own data (same simulators, seeds and card event-time pattern) as Kafka-style records in
 * batches, through the production functions one stage at a time:
 *
 * - transactions: decode (JSON.parse + Schema) → normalise → feature-group encode (Avro, key, headers)
 * - card-aggregates: decode → window engine (sliding 10 min / 1 min, moments) → rows → encode
 *
 * Each stage is timed over the whole input (several rounds, the best kept), so the figures are
 * µs per INPUT record; `encode` for cards is also given per output row.
 *
 *   node bench/stage-cost.ts [--records 300000] [--batch 2000] [--rounds 5] [--json]
 */
import { Option } from "effect"
import type { CardAggregatesSettings } from "../src/config/CardAggregatesConfig.ts"
import { deadLetterMaxBytes } from "../src/config/PipelineConfig.ts"
import { cardAggregateFeatures } from "../src/domain/CardTransaction.ts"
import { normaliseTransaction, Transaction, transactionFeatures } from "../src/domain/Transaction.ts"
import { buildFeatureGroupAvroSchemaString } from "../src/hopsworks/AvroSchemaBuilder.ts"
import { makeFeatureGroupEncoder } from "../src/hopsworks/FeatureGroupWriter.ts"
import type { ResolvedFeatureGroup } from "../src/hopsworks/HopsworksModel.ts"
import type { KafkaRecord } from "../src/kafka/KafkaRecord.ts"
import {
  decodeCardTransactions,
  makeCardAggregatesEngine,
  toCardAggregateRow,
  toCardWindowRecord
} from "../src/pipelines/card-aggregates/CardAggregatesPipeline.ts"
import { jsonBatchDecoder } from "../src/runner/BatchDecoder.ts"
import { CardTransactionsSimulator } from "../src/simulator/CardTransactionsSimulator.ts"
import { TransactionsSimulator } from "../src/simulator/TransactionsSimulator.ts"
import type { Firing } from "../src/window/index.ts"
import { CARD_EVENT_STEP_MS, CARD_MAX_DELAY_MS, parseFlags, TX_EPOCH } from "./lib/common.ts"

const flags = parseFlags(process.argv.slice(2))
const N = Number(flags.get("records") ?? 300_000)
const BATCH = Number(flags.get("batch") ?? 2_000)
const ROUNDS = Number(flags.get("rounds") ?? 5)
const PARTITIONS = 3

const featureGroup = (name: string, features: ReadonlyArray<{ name: string; type: string }>, pk: string) =>
  ({
    projectId: 119,
    featureStoreId: 67,
    featureGroupId: 1000,
    name,
    version: 1,
    onlineTopicName: "bench_onlinefs",
    onlineEnabled: true,
    primaryKey: [pk],
    eventTime: undefined,
    features,
    subject: {
      id: 2000,
      version: 1,
      schema: buildFeatureGroupAvroSchemaString({ featureGroupName: name, version: 1, projectName: "bench", features })
    }
  }) satisfies ResolvedFeatureGroup

const asRecord = (topic: string, partition: number, offset: number, key: string, value: string): KafkaRecord => ({
  topic,
  partition,
  offset: String(offset),
  timestamp: 0,
  key: Buffer.from(key),
  value: Buffer.from(value),
  headers: {}
})

/** Records of one partition cut into batches, partitions interleaved batch by batch (as fetches arrive). */
const batchesOf = (byPartition: ReadonlyArray<Array<KafkaRecord>>): Array<Array<KafkaRecord>> => {
  const out: Array<Array<KafkaRecord>> = []
  const longest = Math.max(...byPartition.map((p) => p.length))
  for (let from = 0; from < longest; from += BATCH) {
    for (const records of byPartition) if (from < records.length) out.push(records.slice(from, from + BATCH))
  }
  return out
}

const transactionBatches = () => {
  const sim = new TransactionsSimulator(42, 0)
  const byPartition: Array<Array<KafkaRecord>> = Array.from({ length: PARTITIONS }, () => [])
  for (let i = 0; i < N; i++) {
    const r = sim.next(TX_EPOCH + i)
    const p = i % PARTITIONS
    byPartition[p]!.push(asRecord("tx", p, byPartition[p]!.length, String(r.key), r.value.toString()))
  }
  return batchesOf(byPartition)
}

const cardBatches = () => {
  const sim = new CardTransactionsSimulator({ seed: 42, cards: 1000, maxDelayMs: CARD_MAX_DELAY_MS })
  const byPartition: Array<Array<KafkaRecord>> = Array.from({ length: PARTITIONS }, () => [])
  let now = TX_EPOCH
  for (let i = 0; i < N; i++) {
    now += CARD_EVENT_STEP_MS
    const r = sim.next(now)
    const key = String(r.key)
    // The card number picks the partition (as a keyed producer does), so a card stays on one partition.
    const p = Number(key) % PARTITIONS
    byPartition[p]!.push(asRecord("cards", p, byPartition[p]!.length, key, r.value.toString()))
  }
  for (let p = 0; p < PARTITIONS; p++) {
    const value = JSON.stringify({
      tid: `sentinel-${p}`,
      datetime: now + 13 * 60_000,
      cc_num: 1_000_000 + p,
      amount: 1
    })
    byPartition[p]!.push(asRecord("cards", p, byPartition[p]!.length, String(1_000_000 + p), value))
  }
  return batchesOf(byPartition)
}

const cardSettings: CardAggregatesSettings = {
  topic: "cards",
  groupId: "bench",
  featureGroupName: "card_transactions_10m_agg",
  featureGroupVersion: 1,
  windowLengthMinutes: 10,
  windowSlideMinutes: 1,
  outOfOrdernessSeconds: 60,
  idleTimeoutSeconds: 300,
  allowedLatenessSeconds: 0,
  emitEmptyWindows: false,
  lateRecordsTopic: Option.none(),
  windowStartFeature: false,
  deadLetters: { policy: "dead-letter", topic: Option.none(), maxRecordBytes: deadLetterMaxBytes },
  input: { format: "json" }
}

/** Best of ROUNDS: `run` returns the ms its timed part took. */
const best = (run: () => number): number => {
  let min = Infinity
  for (let i = 0; i < ROUNDS; i++) min = Math.min(min, run())
  return min
}

const time = (f: () => void): number => {
  const t0 = performance.now()
  f()
  return performance.now() - t0
}

const measureTransactions = () => {
  const batches = transactionBatches()
  const decode = jsonBatchDecoder(Transaction)
  const encoder = makeFeatureGroupEncoder(featureGroup("transactions", transactionFeatures, "transaction_id"), {
    onlineIngestionId: 1001
  })
  const decoded = batches.map((b) => decode(b))
  const rows = decoded.map((d) => d.valid.map((v) => normaliseTransaction(v.value)))
  const decodeMs = best(() => time(() => batches.forEach((b) => decode(b))))
  const mapMs = best(() => time(() => decoded.forEach((d) => d.valid.map((v) => normaliseTransaction(v.value)))))
  const encodeMs = best(() => time(() => rows.forEach((r) => encoder.encode(r))))
  const us = (ms: number) => round3((ms * 1000) / N)
  return {
    records: N,
    decode: us(decodeMs),
    map: us(mapMs),
    encode: us(encodeMs),
    total: us(decodeMs + mapMs + encodeMs)
  }
}

const measureCards = () => {
  const batches = cardBatches()
  const decoded = batches.map((b) => decodeCardTransactions(b))
  const encoder = makeFeatureGroupEncoder(
    featureGroup(cardSettings.featureGroupName, cardAggregateFeatures, "cc_num"),
    {
      onlineIngestionId: 1001
    }
  )
  // The engine is stateful: each round runs a fresh one over the whole input.
  let fired: Array<Array<Firing<number, unknown>>> = []
  const engineRound = () => {
    const engine = makeCardAggregatesEngine(cardSettings)
    for (let p = 0; p < PARTITIONS; p++) engine.assign(p)
    const windowRecords = decoded.map((d) => d.valid.map((v) => toCardWindowRecord(v.value, v.record)))
    const out: Array<Array<Firing<number, unknown>>> = []
    const ms = time(() => {
      for (let i = 0; i < batches.length; i++) {
        out.push(engine.process(batches[i]![0]!.partition, windowRecords[i]!, 0).fired)
      }
    })
    fired = out
    return ms
  }
  const toWindowRecordMs = best(() =>
    time(() => decoded.forEach((d) => d.valid.map((v) => toCardWindowRecord(v.value, v.record))))
  )
  const engineMs = best(engineRound)
  const outputs = fired.reduce((n, f) => n + f.length, 0)
  const rows = fired.map((f) => f.map((x) => toCardAggregateRow(x as Parameters<typeof toCardAggregateRow>[0], false)))
  const decodeMs = best(() => time(() => batches.forEach((b) => decodeCardTransactions(b))))
  const rowsMs = best(() =>
    time(() =>
      fired.forEach((f) => f.map((x) => toCardAggregateRow(x as Parameters<typeof toCardAggregateRow>[0], false)))
    )
  )
  const encodeMs = best(() => time(() => rows.forEach((r) => encoder.encode(r))))
  const us = (ms: number) => round3((ms * 1000) / N)
  return {
    records: N,
    outputs,
    decode: us(decodeMs),
    toWindowRecord: us(toWindowRecordMs),
    engine: us(engineMs),
    rows: us(rowsMs),
    encode: us(encodeMs),
    encodePerRow: round3((encodeMs * 1000) / outputs),
    total: us(decodeMs + toWindowRecordMs + engineMs + rowsMs + encodeMs)
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

// Exported for the bench report; run directly, it prints.
export const stageCost = () => ({ transactions: measureTransactions(), cards: measureCards() })

if (import.meta.main) {
  const result = stageCost()
  if (flags.has("json")) console.log(JSON.stringify(result))
  else {
    console.log(`µs per input record (best of ${ROUNDS}, ${N} records, batches of ${BATCH}):`)
    console.table(result)
  }
}
