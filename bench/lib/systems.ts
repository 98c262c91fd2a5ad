/**
 * The systems compared, one function each, and the list bench/run.ts runs them from (in that order:
 * it is also the order of the result JSON and of the printed table). Each starts its child process(es)
 * on the warm-up topic then the measured one; the harness (harness.ts) waits, samples and reads.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { transactionFeatures } from "../../src/domain/Transaction.ts"
import { buildFeatureGroupAvroSchemaString } from "../../src/hopsworks/AvroSchemaBuilder.ts"
import { TransactionsSimulator } from "../../src/simulator/TransactionsSimulator.ts"
import { summariseProfile } from "../profile-summary.ts"
import type { RunSpec } from "../systems/tributary.ts"
import {
  awaitBounded,
  fetchKafkaTools,
  flinkChild,
  KAFKA_TOOLS_CLASSPATH,
  nodeChild,
  type Running
} from "./children.ts"
import { sum, TX_EPOCH } from "./common.ts"
import { startTributaryGroup, type TributaryPipeline } from "./group.ts"
import type { BenchSystem, Harness, LiveInput, LiveSystem, ThroughputRun } from "./harness.ts"
import { APPEND_TIME } from "./latency.ts"
import {
  childTimeoutMs,
  log,
  type Params,
  params,
  type ProducerClient,
  project,
  RESULTS,
  runId,
  topic
} from "./params.ts"

// Tributary's feature-group writer sends these headers (values from the local Hopsworks stand-in:
// project 119, first feature group id 1000, first subject id 2000, online ingestion id 1001).
const FG_HEADERS = "projectId=119,featureGroupId=1000,subjectId=2000,onlineIngestionId=1001"
const txSubjectSchema = (projectName: string) =>
  buildFeatureGroupAvroSchemaString({
    featureGroupName: "transactions",
    version: 1,
    projectName,
    features: transactionFeatures
  })

// ------------------------------------------------------------------------------------------------
// Tributary

/** One process, or K in one consumer group (--tributary-processes). */
const startTributary = (
  system: string,
  pipeline: TributaryPipeline,
  runs: ReadonlyArray<RunSpec>,
  producerClient: ProducerClient
): Running => {
  const K = params.tributaryProcesses
  return K > 1
    ? startTributaryGroup(system, pipeline, runs, K, producerClient)
    : nodeChild(system, "tributary.ts", {
      pipeline,
      cardImpl: params.cardImpl,
      bootstrap: params.bootstrap,
      producerClient,
      runs
    })
}

const processesNote = () => {
  const K = params.tributaryProcesses
  return `${K} process${K > 1 ? "es, one consumer group" : ""}`
}

/** The transactions pipeline; `label` names its local Hopsworks projects. */
const tributaryTransactions =
  (label: string, producerClient: ProducerClient) => async (h: Harness, system: string): Promise<ThroughputRun> => {
    const projects = { warmup: project(`${label}w`), measured: project(label) }
    await h.outTopic(`${projects.warmup}_onlinefs`)
    const outTopic = await h.outTopic(`${projects.measured}_onlinefs`)
    log(`${system} (${producerClient} producer, ${processesNote()})…`)
    const running = startTributary(system, "transactions", [
      { tag: "warmup", topic: topic("tx-warm"), project: projects.warmup, outTopic: "", endOffsets: h.ends.txWarm },
      { tag: "measured", topic: topic("tx-in"), project: projects.measured, outTopic: "", endOffsets: h.ends.txIn }
    ], producerClient)
    return { running, outTopic }
  }

/** The card-aggregates pipeline (or, with --card-impl engine, the window engine with JSON rows out). */
const tributaryCards =
  (label: string, producerClient: ProducerClient) => async (h: Harness, system: string): Promise<ThroughputRun> => {
    const projects = { warmup: project(`${label}w`), measured: project(label) }
    await h.outTopic(`${projects.warmup}_onlinefs`)
    await h.outTopic(`${projects.measured}_onlinefs`)
    const outWarm = await h.outTopic(topic(`${system}-warm-out`))
    const outEngine = await h.outTopic(topic(`${system}-out`))
    log(`${system} (${params.cardImpl}, ${producerClient} producer, ${processesNote()})…`)
    const running = startTributary(system, "cards", [
      {
        tag: "warmup",
        topic: topic("cards-warm"),
        project: projects.warmup,
        outTopic: outWarm,
        endOffsets: h.ends.cardsWarm
      },
      {
        tag: "measured",
        topic: topic("cards-in"),
        project: projects.measured,
        outTopic: outEngine,
        endOffsets: h.ends.cardsIn
      }
    ], producerClient)
    return { running, outTopic: params.cardImpl === "engine" ? outEngine : `${projects.measured}_onlinefs` }
  }

/** Live on the latency topic: K processes in one group (the probe phase absorbs the group join). */
const tributaryTransactionsLive = async (h: Harness, input: LiveInput): Promise<LiveSystem> => {
  const outTopic = await h.outTopic(`${input.project}_onlinefs`, APPEND_TIME)
  const config = {
    pipeline: "transactions",
    cardImpl: params.cardImpl,
    bootstrap: params.bootstrap,
    runs: [],
    live: { topic: input.inTopic, project: input.project, outTopic, groupId: `bench-live-${runId}-${input.tag}` }
  }
  const extra = Array.from(
    { length: params.tributaryProcesses - 1 },
    (_, i) => nodeChild(`${input.tag}-${i + 1}`, "tributary.ts", config)
  )
  return { outTopic, processes: [nodeChild(input.tag, "tributary.ts", config), ...extra] }
}

/**
 * `--profile`: each pipeline once more (transactions, then card aggregates), under `node --cpu-prof`,
 * summarised over its measured window.
 */
export const profileTributary = async (h: Harness) => {
  const dir = join(RESULTS, "profiles", runId)
  const out: Record<string, ReturnType<typeof summariseProfile> & { recordsPerSec: number | undefined }> = {}
  for (const pipeline of ["transactions", "cards"] as const) {
    const pipelineDir = join(dir, pipeline)
    mkdirSync(pipelineDir, { recursive: true })
    const projectName = project(pipeline === "transactions" ? "prof" : "profc")
    await h.outTopic(`${projectName}_onlinefs`)
    log(`profiling tributary ${pipeline}, ${params.profileClient} client (node --cpu-prof)…`)
    const running = nodeChild(`tributary-profile-${pipeline}`, "tributary.ts", {
      pipeline,
      cardImpl: params.cardImpl,
      bootstrap: params.bootstrap,
      producerClient: params.profileClient,
      runs: [{
        tag: "measured",
        topic: topic(pipeline === "transactions" ? "tx-in" : "cards-in"),
        project: projectName,
        outTopic: pipeline === "transactions" ? "" : await h.outTopic(topic("profile-cards-out")),
        endOffsets: pipeline === "transactions" ? h.ends.txIn : h.ends.cardsIn
      }]
    }, ["--cpu-prof", `--cpu-prof-dir=${pipelineDir}`])
    const run = await awaitBounded(`tributary-profile-${pipeline}`, running, childTimeoutMs)
    const file = readdirSync(pipelineDir).find((f) => f.endsWith(".cpuprofile"))
    if (file === undefined) continue
    const r = run.results[0]
    const summary = summariseProfile(
      join(pipelineDir, file),
      25,
      r === undefined ? undefined : { fromUs: r["monoFirstUs"] as number, toUs: r["monoEndUs"] as number }
    )
    const recordsPerSec = r?.["recordsPerSec"] as number | undefined
    log(`profile: ${join(pipelineDir, file)} (profiled run: ${Math.round(recordsPerSec ?? 0)} rec/s)`)
    out[pipeline] = { ...summary, recordsPerSec }
  }
  return out
}

// ------------------------------------------------------------------------------------------------
// Flink

const flinkCommon = () => ({
  bootstrap: params.bootstrap,
  parallelism: String(params.flinkParallelism),
  "checkpoint-ms": String(params.flinkCheckpointMs)
})

/** Flink reports firstRecordToEndMs / cpuFirstRecordToEndSec: normalised to the Node children's fields. */
const normaliseFlink =
  (warmupEnds: ReadonlyArray<number>, measuredEnds: ReadonlyArray<number>) =>
  (r: Record<string, unknown>): Record<string, unknown> => {
    const records = sum(r["tag"] === "warmup" ? warmupEnds : measuredEnds)
    const wallMs = r["firstRecordToEndMs"] as number
    const cpuSec = r["cpuFirstRecordToEndSec"] as number
    return {
      ...r,
      system: `flink-${r["mode"]}`,
      records,
      wallMs,
      recordsPerSec: records / (wallMs / 1000),
      cpuSec,
      recordsPerCpuSec: records / cpuSec,
      cpuUtilisation: cpuSec / (wallMs / 1000),
      startupMs: (r["jobWallMs"] as number) - wallMs
    }
  }

const flinkTransactions = async (h: Harness, name: string): Promise<ThroughputRun> => {
  const outWarm = await h.outTopic(topic("flink-tx-warm-out"))
  const outTopic = await h.outTopic(topic("flink-tx-out"))
  log("flink transactions…")
  const running = flinkChild(name, {
    mode: "transactions",
    ...flinkCommon(),
    in: topic("tx-in"),
    out: outTopic,
    "warmup-in": topic("tx-warm"),
    "warmup-out": outWarm,
    group: `flink-${runId}-tx`,
    schema: txSubjectSchema(project("tx")),
    headers: FG_HEADERS
  })
  return { running, outTopic, normalise: normaliseFlink(h.ends.txWarm, h.ends.txIn) }
}

const flinkTransactionsLive = async (h: Harness, input: LiveInput): Promise<LiveSystem> => {
  const outTopic = await h.outTopic(topic(`${input.tag}-out`), APPEND_TIME)
  const flink = flinkChild(input.tag, {
    mode: "transactions",
    ...flinkCommon(),
    in: input.inTopic,
    out: outTopic,
    bounded: "false",
    group: `flink-${input.tag}`,
    schema: txSubjectSchema(input.project),
    headers: FG_HEADERS
  })
  return { outTopic, processes: [flink] }
}

const flinkCards = async (h: Harness, name: string): Promise<ThroughputRun> => {
  const outWarm = await h.outTopic(topic("flink-cards-warm-out"))
  const outTopic = await h.outTopic(topic("flink-cards-out"))
  log("flink card aggregates…")
  const running = flinkChild(name, {
    mode: "cards",
    ...flinkCommon(),
    in: topic("cards-in"),
    out: outTopic,
    "warmup-in": topic("cards-warm"),
    "warmup-out": outWarm,
    group: `flink-${runId}-cards`
  })
  return { running, outTopic, normalise: normaliseFlink(h.ends.cardsWarm, h.ends.cardsIn) }
}

// ------------------------------------------------------------------------------------------------
// the ceiling: raw kafkajs consume-and-produce of the same bytes

/** With `headers`, the 4 feature-group headers go on every record: what the protocol costs in the client alone. */
const ceiling = (headers: boolean) => async (h: Harness, name: string): Promise<ThroughputRun> => {
  const outWarm = await h.outTopic(topic(`${name}-warm-out`))
  const outTopic = await h.outTopic(topic(`${name}-out`))
  log(
    headers
      ? "ceiling with Hopsworks headers (raw kafkajs copy + 4 headers per record)…"
      : "ceiling (raw kafkajs copy)…"
  )
  const running = nodeChild(name, "ceiling.ts", {
    bootstrap: params.bootstrap,
    ...(headers
      ? {
        system: name,
        headers: Object.fromEntries(FG_HEADERS.split(",").map((kv) => kv.split("=") as [string, string]))
      }
      : {}),
    runs: [
      { tag: "warmup", topic: topic("tx-warm"), outTopic: outWarm, endOffsets: h.ends.txWarm },
      { tag: "measured", topic: topic("tx-in"), outTopic, endOffsets: h.ends.txIn }
    ]
  })
  return { running, outTopic }
}

/** The raw @platformatic/kafka copy (the default client), with or without the 4 feature-group headers. */
const ceilingPlatformatic = (headers: boolean) => async (h: Harness, name: string): Promise<ThroughputRun> => {
  const outWarm = await h.outTopic(topic(`${name}-warm-out`))
  const outTopic = await h.outTopic(topic(`${name}-out`))
  log(`raw @platformatic/kafka copy${headers ? " + 4 Hopsworks headers per record" : ""}…`)
  const running = nodeChild(name, "ceiling-platformatic.ts", {
    bootstrap: params.bootstrap,
    system: name,
    ...(headers
      ? { headers: Object.fromEntries(FG_HEADERS.split(",").map((kv) => kv.split("=") as [string, string])) }
      : {}),
    runs: [
      { tag: "warmup", topic: topic("tx-warm"), outTopic: outWarm, endOffsets: h.ends.txWarm },
      { tag: "measured", topic: topic("tx-in"), outTopic, endOffsets: h.ends.txIn }
    ]
  })
  return { running, outTopic }
}

// ------------------------------------------------------------------------------------------------
// the box's physical limit: Kafka's own Java performance tools

/** ProducerPerformance: as many records as the measured input, payloads drawn from real transactions. */
const kafkaProducerPerf = async (h: Harness, name: string): Promise<ThroughputRun> => {
  fetchKafkaTools()
  const outTopic = await h.outTopic(topic(`${name}-out`))
  const payloadFile = join(RESULTS, "logs", `${runId}-payloads.txt`)
  const simulator = new TransactionsSimulator(7, 0)
  writeFileSync(
    payloadFile,
    Array.from({ length: 10_000 }, (_, i) => simulator.next(TX_EPOCH + i).value.toString()).join("\n")
  )
  log("kafka ProducerPerformance (Java)…")
  const running = nodeChild(name, "kafka-perf.ts", {
    tool: "producer",
    system: name,
    bootstrap: params.bootstrap,
    classpath: KAFKA_TOOLS_CLASSPATH,
    topic: outTopic,
    records: sum(h.ends.txIn),
    payloadFile
  })
  return { running, outTopic }
}

/** ConsumerPerformance over the measured transactions topic ("outputs" are the records it read). */
const kafkaConsumerPerf = async (h: Harness, name: string): Promise<ThroughputRun> => {
  fetchKafkaTools()
  log("kafka ConsumerPerformance (Java)…")
  const running = nodeChild(name, "kafka-perf.ts", {
    tool: "consumer",
    system: name,
    bootstrap: params.bootstrap,
    classpath: KAFKA_TOOLS_CLASSPATH,
    topic: topic("tx-in"),
    records: sum(h.ends.txIn)
  })
  return { running, outTopic: topic("tx-in") }
}

const ceilingLive = async (h: Harness, input: LiveInput): Promise<LiveSystem> => {
  const outTopic = await h.outTopic(topic(`${input.tag}-out`), APPEND_TIME)
  const copy = nodeChild(input.tag, "ceiling.ts", {
    bootstrap: params.bootstrap,
    runs: [],
    live: { topic: input.inTopic, outTopic }
  })
  return { outTopic, processes: [copy] }
}

// ------------------------------------------------------------------------------------------------

const withFlink = (p: Params) => !p.skipFlink
const withPlatformatic = (p: Params) => p.platformatic
const withCeilings = (p: Params) => !p.skipCeilings

/** Run order; `live` ones also take part in the latency runs, in this order. */
export const SYSTEMS: ReadonlyArray<BenchSystem> = [
  {
    name: "tributary-transactions",
    throughput: tributaryTransactions("tx", "kafkajs"),
    live: tributaryTransactionsLive
  },
  {
    name: "tributary-transactions-platformatic",
    enabled: withPlatformatic,
    throughput: tributaryTransactions("txp", "platformatic")
  },
  { name: "flink-transactions", enabled: withFlink, throughput: flinkTransactions, live: flinkTransactionsLive },
  { name: "ceiling", throughput: ceiling(false), live: ceilingLive },
  { name: "ceiling-headers", throughput: ceiling(true) },
  { name: "ceiling-platformatic", enabled: withCeilings, throughput: ceilingPlatformatic(false) },
  { name: "ceiling-platformatic-headers", enabled: withCeilings, throughput: ceilingPlatformatic(true) },
  { name: "kafka-producer-perf", enabled: withCeilings, throughput: kafkaProducerPerf },
  { name: "kafka-consumer-perf", enabled: withCeilings, throughput: kafkaConsumerPerf },
  { name: "tributary-cards", throughput: tributaryCards("card", "kafkajs") },
  {
    name: "tributary-cards-platformatic",
    enabled: withPlatformatic,
    throughput: tributaryCards("cardp", "platformatic")
  },
  { name: "flink-cards", enabled: withFlink, throughput: flinkCards }
]
