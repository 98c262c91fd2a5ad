/**
 * The harness every system runs in: the broker connection, the input topics loaded once for all
 * systems, and one throughput measurement (start the system, wait for it with a bound, read the
 * outputs, merge the /proc samples into a `Measured`).
 */
import type { Admin, Kafka, Producer } from "kafkajs"
import { awaitBounded, brokerCpuBetween, type ChildRun, type Running } from "./children.ts"
import { createTopic, endOffsets, loadCards, loadTransactions, makeKafka, sum } from "./common.ts"
import { childTimeoutMs, log, LOGS, type Params, topic } from "./params.ts"

/** High watermarks per partition of the four input topics (`data.endOffsets` in the JSON). */
export interface InputEnds {
  readonly txIn: Array<number>
  readonly txWarm: Array<number>
  readonly cardsIn: Array<number>
  readonly cardsWarm: Array<number>
}

export interface Harness {
  readonly params: Params
  readonly kafka: Kafka
  readonly admin: Admin
  /** The orchestrator's own producer (acks -1): input data and latency load. */
  readonly producer: Producer
  readonly ends: InputEnds
  /** Creates a topic with the run's partition count and returns its name. */
  readonly outTopic: (name: string, configs?: Record<string, string>) => Promise<string>
}

export const connect = async (params: Params) => {
  const kafka = makeKafka(params.bootstrap, "bench-orchestrator")
  const admin = kafka.admin()
  try {
    await admin.connect()
    await admin.describeCluster()
  } catch (error) {
    throw new Error(`no Kafka at ${params.bootstrap} (start it with: bash scripts/kafka.sh start): ${String(error)}`, {
      cause: error
    })
  }
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  return { kafka, admin, producer }
}

/** The same input topics feed every system: measured and warm-up, transactions and card transactions. */
export const loadInputs = async (params: Params, admin: Admin, producer: Producer) => {
  const P = params.partitions
  for (const t of ["tx-in", "tx-warm", "cards-in", "cards-warm"]) await createTopic(admin, topic(t), P)
  log(
    `loading ${params.records} transactions + ${params.records} card transactions (+ ${params.warmupRecords} each for warm-up)`
  )
  const tLoad = Date.now()
  const transactions = await loadTransactions(producer, topic("tx-in"), params.records, 1234)
  await loadTransactions(producer, topic("tx-warm"), params.warmupRecords, 99)
  const cards = await loadCards(producer, topic("cards-in"), params.records, P, 1234)
  await loadCards(producer, topic("cards-warm"), params.warmupRecords, P, 99)
  log(`loaded in ${Math.round((Date.now() - tLoad) / 1000)} s`)
  const ends: InputEnds = {
    txIn: await endOffsets(admin, topic("tx-in")),
    txWarm: await endOffsets(admin, topic("tx-warm")),
    cardsIn: await endOffsets(admin, topic("cards-in")),
    cardsWarm: await endOffsets(admin, topic("cards-warm"))
  }
  return { transactions, cards, ends }
}

// ------------------------------------------------------------------------------------------------
// throughput

/** What a system's throughput function hands the harness. */
export interface ThroughputRun {
  /** Its process(es), already started on the warm-up topic, then the measured one. */
  readonly running: Running
  /** The topic whose end offsets count as the measured run's outputs. */
  readonly outTopic: string
  /** Maps each result line to the common fields (recordsPerSec, recordsPerCpuSec, wallMs, …). */
  readonly normalise?: (result: Record<string, unknown>) => Record<string, unknown>
}

/**
 * A system of the comparison. Adding one is a function returning a ThroughputRun plus an entry in
 * the list in bench/lib/systems.ts.
 */
export interface BenchSystem {
  readonly name: string
  readonly enabled?: (params: Params) => boolean
  /** Creates its output topics and starts its process(es); `name` names its log files. */
  readonly throughput: (h: Harness, name: string) => Promise<ThroughputRun>
  /** Present when the system takes part in the fixed-rate latency runs (see bench/lib/latency.ts). */
  readonly live?: (h: Harness, input: LiveInput) => Promise<LiveSystem>
}

export interface LiveInput {
  /** e.g. `tributary-lat50`: names its topics, project and log files. */
  readonly tag: string
  readonly inTopic: string
  /** The local Hopsworks project (Tributary) whose subject schema Flink writes too. */
  readonly project: string
}

export interface LiveSystem {
  /** Created with LogAppendTime, like the input topic. */
  readonly outTopic: string
  readonly processes: ReadonlyArray<Running>
}

export interface Measured {
  readonly system: string
  readonly measured: Record<string, unknown>
  readonly warmup: Record<string, unknown> | undefined
  readonly outputRecords: number
  readonly procCpuSec: number | undefined
  readonly procPeakRssKb: number | undefined
  /** Several processes (Tributary group mode): procPeakRssKb is their sum, this their max. */
  readonly procPeakRssMaxKb?: number | undefined
  readonly brokerCpuSec: number | undefined
}

/** Runs one system's warm-up and measured runs and reads what they did. */
export const measure = async (h: Harness, system: BenchSystem): Promise<Measured> => {
  const { running, outTopic, normalise } = await system.throughput(h, system.name)
  const child = await awaitBounded(system.name, running, childTimeoutMs)
  const results = normalise === undefined ? child.results : child.results.map(normalise)
  return finish(h.admin, system.name, { ...child, results }, outTopic)
}

const finish = async (admin: Admin, system: string, run: ChildRun, outTopic: string): Promise<Measured> => {
  const measured = run.results.find((r) => r["tag"] === "measured")
  if (measured === undefined) throw new Error(`${system}: no measured result (exit ${run.exitCode}); see ${LOGS}`)
  const firstAt = measured["firstAt"] as number
  const endAt = measured["endAt"] as number
  const out: Measured = {
    system,
    measured,
    warmup: run.results.find((r) => r["tag"] === "warmup"),
    outputRecords: sum(await endOffsets(admin, outTopic)),
    procCpuSec: run.procCpuSec,
    // Polled VmHWM, or the child's own reading at the end of the measured run if that is higher.
    procPeakRssKb: Math.max(run.procPeakRssKb ?? 0, ...run.results.map((r) => Number(r["vmHwmKb"] ?? 0))) || undefined,
    ...(run.procPeakRssMaxKb === undefined ? {} : { procPeakRssMaxKb: run.procPeakRssMaxKb }),
    brokerCpuSec: brokerCpuBetween(run.samples, firstAt, endAt)
  }
  log(
    `${system}: ${Math.round(measured["recordsPerSec"] as number)} rec/s, ` +
      `${Math.round(measured["recordsPerCpuSec"] as number)} rec/CPU-s, wall ${measured["wallMs"]} ms, ` +
      `out ${out.outputRecords}, peak RSS ${Math.round((out.procPeakRssKb ?? 0) / 1024)} MiB`
  )
  return out
}

/** Every enabled system, one after another (never two at once: they share the 2 cores). */
export const runThroughput = async (h: Harness, systems: ReadonlyArray<BenchSystem>) => {
  const throughput: Record<string, Measured> = {}
  for (const s of systems) {
    if (h.params.only !== undefined && !h.params.only.includes(s.name)) continue
    if (s.enabled === undefined || s.enabled(h.params)) throughput[s.name] = await measure(h, s)
  }
  return throughput
}
