/**
 * Tributary vs Flink vs raw kafkajs, side by side on the same broker, data, partitions and acks.
 *
 *   node bench/run.ts [--records N] [--partitions P] [--skip-flink] [--skip-latency] [--profile]
 *                     [--warmup-records W] [--latency-seconds D] [--card-impl pipeline|engine]
 *                     [--tributary-processes 2] [--flink-parallelism 2] [--flink-checkpoint-ms 1000] [--bootstrap 127.0.0.1:19092]
 *
 * Each system runs in its own child process (one after another, never at the same time), so CPU and
 * peak RSS are per system. See bench/README.md for what is measured and how.
 */
import type { Admin, Kafka, Producer } from "kafkajs"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { transactionFeatures } from "../src/domain/Transaction.ts"
import { buildFeatureGroupAvroSchemaString } from "../src/hopsworks/AvroSchemaBuilder.ts"
import { TransactionsSimulator } from "../src/simulator/TransactionsSimulator.ts"
import {
  createTopic,
  endOffsets,
  loadCards,
  loadTransactions,
  makeKafka,
  parseFlags,
  parseResults,
  percentile,
  procCpuSeconds,
  procMemory,
  produceMessages,
  round,
  sleep,
  sum,
  TX_EPOCH
} from "./lib/common.ts"
import { summariseProfile } from "./profile-summary.ts"

const BENCH = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH)
const flags = parseFlags(process.argv.slice(2))
const num = (name: string, fallback: number) => (flags.has(name) ? Number(flags.get(name)) : fallback)

const params = {
  records: num("records", 1_000_000),
  partitions: num("partitions", 3),
  warmupRecords: num("warmup-records", Math.min(50_000, Math.max(5_000, Math.floor(num("records", 1_000_000) / 5)))),
  bootstrap: flags.get("bootstrap") ?? "127.0.0.1:19092",
  skipFlink: flags.has("skip-flink"),
  skipLatency: flags.has("skip-latency"),
  profile: flags.has("profile"),
  latencySeconds: num("latency-seconds", 20),
  latencyWarmupSeconds: num("latency-warmup-seconds", 5),
  latencyFractions: [0.5, 0.8],
  cardImpl: (flags.get("card-impl") ?? "pipeline") as "pipeline" | "engine",
  flinkParallelism: num("flink-parallelism", 2),
  /** Tributary processes in one consumer group per measurement (its scale-out model), like Flink's parallelism. */
  tributaryProcesses: Math.max(1, num("tributary-processes", 1)),
  /** Also run the transactions pipeline with KAFKA_PRODUCER_CLIENT=platformatic. */
  platformatic: !flags.has("skip-platformatic"),
  /** The producer client of the profiled run. */
  profileClient: (flags.get("profile-client") ?? "kafkajs") as "kafkajs" | "platformatic",
  flinkCheckpointMs: num("flink-checkpoint-ms", 1000),
  acks: -1
}

const runId = `${new Date().toISOString().replace(/[-:T]/g, "").slice(4, 14)}`
const RESULTS = join(BENCH, "results")
const LOGS = join(RESULTS, "logs")
mkdirSync(LOGS, { recursive: true })
const log = (...args: Array<unknown>) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args)

// Tributary's feature-group writer sends these headers (values from the local Hopsworks stand-in:
// project 119, first feature group id 1000, first subject id 2000, online ingestion id 1001).
const FG_HEADERS = "projectId=119,featureGroupId=1000,subjectId=2000,onlineIngestionId=1001"
const txSubjectSchema = (project: string) =>
  buildFeatureGroupAvroSchemaString({
    featureGroupName: "transactions",
    version: 1,
    projectName: project,
    features: transactionFeatures
  })

const NODE = process.execPath
const FLINK_DIR = join(BENCH, "flink")
const JDK17_OPENS = [
  "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
  "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
  "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
  "--add-opens=java.base/java.lang=ALL-UNNAMED",
  "--add-opens=java.base/java.net=ALL-UNNAMED",
  "--add-opens=java.base/java.io=ALL-UNNAMED",
  "--add-opens=java.base/java.nio=ALL-UNNAMED",
  "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
  "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
  "--add-opens=java.base/java.text=ALL-UNNAMED",
  "--add-opens=java.base/java.time=ALL-UNNAMED",
  "--add-opens=java.base/java.util=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED"
]

// ------------------------------------------------------------------------------------------------
// child processes, with /proc sampling (CPU, peak RSS) of the child and of the broker

const brokerPid = (): number | undefined => {
  try {
    const pid = Number(readFileSync(join(ROOT, ".it/kafka/pid"), "utf8").trim())
    return procCpuSeconds(pid) === undefined ? undefined : pid
  } catch {
    return undefined
  }
}
const BROKER = brokerPid()

interface Sample {
  readonly at: number
  readonly broker: number | undefined
}

interface ChildRun {
  readonly results: Array<Record<string, unknown>>
  readonly procCpuSec: number | undefined
  readonly procPeakRssKb: number | undefined
  readonly samples: ReadonlyArray<Sample>
  readonly exitCode: number | null
}

interface Started {
  readonly child: ChildProcess
  readonly ready: Promise<void>
  readonly done: Promise<ChildRun>
  /** SIGTERM, expected: its exit status (143) is not reported as a failure. */
  readonly stop: () => void
}

const startChild = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  cwd = ROOT,
  onLine?: (line: string) => void
): Started => {
  const child = spawn(command, args, { cwd, stdio: [onLine === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
  let partial = ""
  const logFile = join(LOGS, `${runId}-${name}.log`)
  let stdout = ""
  let stderr = ""
  let markReady: () => void = () => undefined
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString()
    if (stdout.includes("BENCH_READY")) markReady()
    if (onLine !== undefined) {
      partial += d.toString()
      let i: number
      while ((i = partial.indexOf("\n")) >= 0) {
        onLine(partial.slice(0, i))
        partial = partial.slice(i + 1)
      }
    }
  })
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const samples: Array<Sample> = []
  let stopping = false
  let cpu: number | undefined
  let hwm: number | undefined
  const sampler = setInterval(() => {
    const c = procCpuSeconds(child.pid!)
    const m = procMemory(child.pid!)
    if (c !== undefined) cpu = c
    // A zombie (exited, not yet reaped) has no Vm* lines.
    if (m !== undefined && Number.isFinite(m.hwmKb)) hwm = Math.max(hwm ?? 0, m.hwmKb)
    samples.push({ at: Date.now(), broker: BROKER === undefined ? undefined : procCpuSeconds(BROKER) })
  }, 100)
  const done = new Promise<ChildRun>((resolve) => {
    child.on("exit", (code) => {
      clearInterval(sampler)
      writeFileSync(logFile, `$ ${command} ${args.join(" ")}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`)
      if (code !== 0 && code !== null && !(stopping && code === 143)) {
        log(`${name} exited with ${code}; log: ${logFile}\n${stderr.slice(-3000)}`)
      }
      resolve({ results: parseResults(stdout), procCpuSec: cpu, procPeakRssKb: hwm, samples, exitCode: code })
    })
  })
  return {
    child,
    ready,
    done,
    stop: () => {
      stopping = true
      child.kill("SIGTERM")
    }
  }
}

const stopChild = async (s: Started): Promise<ChildRun> => {
  s.stop()
  const timer = setTimeout(() => s.child.kill("SIGKILL"), 15_000)
  const run = await s.done
  clearTimeout(timer)
  return run
}

/** Broker CPU seconds between two instants, from the samples taken while the child ran. */
const brokerCpuBetween = (samples: ReadonlyArray<Sample>, from: number, to: number): number | undefined => {
  const before = samples.toReversed().find((s) => s.at <= from && s.broker !== undefined)
  const after = samples.find((s) => s.at >= to && s.broker !== undefined)
  return before === undefined || after === undefined ? undefined : after.broker! - before.broker!
}

const nodeChild = (
  name: string,
  script: string,
  config: unknown,
  nodeFlags: ReadonlyArray<string> = [],
  onLine?: (line: string) => void
) => startChild(name, NODE, [...nodeFlags, join(BENCH, "systems", script), JSON.stringify(config)], ROOT, onLine)

interface GroupRunSpec {
  readonly tag: string
  readonly topic: string
  readonly project: string
  readonly outTopic: string
  readonly endOffsets: ReadonlyArray<number>
}

/**
 * K Tributary processes in ONE consumer group (per run: a fresh group id shared by all of them).
 * Each run starts in every member at once (a "go" barrier), and ends when run.ts has seen the
 * whole group done: transactions, every member has consumed its partitions to the end with every
 * output acknowledged, and the members' assignments cover every partition; card aggregates, the
 * group's committed checkpoints reach the end (any member sees it). Then "stop" goes to all.
 * The members' results are merged into one per tag (see mergeMembers); the ChildRun sums CPU and
 * peak RSS (the max is kept too).
 */
const tributaryGroup = async (
  name: string,
  pipeline: "transactions" | "cards",
  runs: ReadonlyArray<GroupRunSpec>,
  processes: number,
  producerClient: "kafkajs" | "platformatic" = "kafkajs"
): Promise<ChildRun & { procPeakRssMaxKb: number | undefined }> => {
  const groupIds = new Map(runs.map((r) => [r.tag, `bench-${r.tag}-${runId}-${name}-g${processes}`]))
  const waiting = new Set<number>()
  const progress = new Map<number, { done: boolean; at?: number; assigned: Array<number> }>()
  const goAt = new Map<string, number>()
  const doneAt = new Map<string, number>()
  /** When every member has had an assignment in the current run (the K-member group exists). */
  const formedAt = new Map<string, number>()
  const everAssigned = new Set<number>()
  let current = ""
  const members: Array<Started> = []
  const send = (line: string) => {
    for (const m of members) m.child.stdin?.write(`${line}\n`)
  }
  const onLine = (i: number) => (line: string) => {
    if (line.startsWith("BENCH_WAIT ")) {
      waiting.add(i)
      if (waiting.size === processes) {
        waiting.clear()
        progress.clear()
        everAssigned.clear()
        current = line.slice("BENCH_WAIT ".length)
        goAt.set(current, Date.now())
        send("go")
      }
    } else if (line.startsWith("BENCH_PROGRESS ")) {
      const p = JSON.parse(line.slice("BENCH_PROGRESS ".length)) as {
        tag: string
        done: boolean
        at?: number
        assigned: Array<number>
      }
      if (p.tag !== current || doneAt.has(current)) return
      progress.set(i, p)
      if (p.assigned.length > 0) everAssigned.add(i)
      if (everAssigned.size === processes && !formedAt.has(current)) formedAt.set(current, Date.now())
      const all = [...progress.values()]
      const covered = new Set(all.flatMap((x) => x.assigned))
      // Every member must have joined with partitions: otherwise the run was one process's, not K's.
      // Each member reports done once the group's commits reach the end and its own outputs are
      // acknowledged; the run ends at the latest member's last acknowledged output.
      const groupDone = everAssigned.size === processes && all.length === processes && all.every((x) => x.done) &&
        covered.size === params.partitions
      if (groupDone) {
        const ats = all.flatMap((x) => (x.at === undefined ? [] : [x.at]))
        doneAt.set(current, pipeline === "cards" ? Math.min(...ats) : Math.max(...ats))
        send("stop")
      }
    }
  }
  for (let i = 0; i < processes; i++) {
    members.push(nodeChild(
      `${name}-${i}`,
      "tributary.ts",
      {
        pipeline,
        cardImpl: params.cardImpl,
        bootstrap: params.bootstrap,
        coordinated: true,
        producerClient,
        runs: runs.map((r) => ({ ...r, groupId: groupIds.get(r.tag) }))
      },
      [],
      onLine(i)
    ))
  }
  const done = await Promise.all(members.map((m) => m.done))
  const results = runs.flatMap((r) => {
    const rs = done.map((d) => d.results.find((x) => x["tag"] === r.tag)).filter((x) => x !== undefined)
    if (rs.length !== processes || !doneAt.has(r.tag)) return []
    return [mergeMembers(pipeline, r, rs, goAt.get(r.tag)!, doneAt.get(r.tag)!, formedAt.get(r.tag)!)]
  })
  const hwms = done.map((d) => d.procPeakRssKb ?? 0)
  return {
    results,
    procCpuSec: sum(done.map((d) => d.procCpuSec ?? 0)),
    procPeakRssKb: Math.max(sum(hwms), ...results.map((r) => Number(r["vmHwmKb"] ?? 0))) || undefined,
    procPeakRssMaxKb: Math.max(...hwms, ...results.map((r) => Number(r["vmHwmMaxKb"] ?? 0))) || undefined,
    samples: done[0]!.samples,
    exitCode: done.find((d) => d.exitCode !== 0)?.exitCode ?? done[0]!.exitCode
  }
}

/** One result from K members: wall time from the first record any member saw to the group's end. */
const mergeMembers = (
  pipeline: "transactions" | "cards",
  run: GroupRunSpec,
  members: ReadonlyArray<Record<string, unknown>>,
  goAt: number,
  endAt: number,
  formedAt: number
): Record<string, unknown> => {
  const records = sum(run.endOffsets)
  const firsts = members.map((m) => m["firstAt"] as number | undefined).filter((x) => x !== undefined)
  const firstAt = Math.min(...firsts)
  const wallMs = endAt - firstAt
  const cpuSec = sum(members.map((m) => m["cpuSec"] as number))
  const total = (k: string) => sum(members.map((m) => Number(m[k] ?? 0)))
  const hwm = members.map((m) => Number(m["vmHwmKb"] ?? 0))
  return {
    system: `tributary-${pipeline}`,
    impl: members[0]!["impl"],
    tag: run.tag,
    processes: members.length,
    records,
    recordsIn: total("recordsIn"),
    recordsOut: total("recordsOut"),
    deadLettered: total("deadLettered"),
    late: total("late"),
    commits: total("commits"),
    rebalances: total("rebalances"),
    // Records consumed twice (a rebalance hands over partitions with uncommitted offsets).
    reconsumed: total("recordsIn") - records,
    firstAt,
    endAt,
    // Barrier → first record of any member: process set-up and the K-member group join.
    startupMs: firstAt - goAt,
    // First record → every member has partitions. The dev broker has group.initial.rebalance.delay.ms=0:
    // the first member starts alone, the others join at its next heartbeat (≤ 3 s), inside the window.
    groupFormedMs: formedAt - firstAt,
    wallMs,
    recordsPerSec: records / (wallMs / 1000),
    cpuSec,
    recordsPerCpuSec: records / cpuSec,
    cpuUtilisation: cpuSec / (wallMs / 1000),
    vmHwmKb: sum(hwm),
    vmHwmMaxKb: Math.max(...hwm),
    members
  }
}

const flinkChild = (name: string, args: Record<string, string>) =>
  startChild(
    name,
    "java",
    [
      "-Xmx1g",
      ...JDK17_OPENS,
      "-cp",
      `${join(FLINK_DIR, "target/classes")}:${join(FLINK_DIR, "target/lib")}/*`,
      "tributary.bench.BaselineJob",
      ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])
    ],
    FLINK_DIR
  )

const buildFlink = () => {
  const cls = join(FLINK_DIR, "target/classes/tributary/bench/BaselineJob.class")
  const src = join(FLINK_DIR, "src/main/java/tributary/bench/BaselineJob.java")
  const inputs = [src, join(FLINK_DIR, "pom.xml"), join(FLINK_DIR, "src/main/resources/log4j2.properties")]
  const fresh = existsSync(cls) && existsSync(join(FLINK_DIR, "target/lib")) &&
    inputs.every((f) => statSync(cls).mtimeMs > statSync(f).mtimeMs)
  if (fresh) return
  log("building the Flink baseline (mvn package + dependency:copy-dependencies)")
  execFileSync("mvn", [
    "-q",
    "-B",
    "package",
    "-DskipTests",
    "dependency:copy-dependencies",
    "-DincludeScope=runtime",
    `-DoutputDirectory=${join(FLINK_DIR, "target/lib")}`
  ], { cwd: FLINK_DIR, stdio: ["ignore", "inherit", "inherit"] })
}

// ------------------------------------------------------------------------------------------------
// throughput runs

interface Measured {
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

const finish = async (
  admin: Admin,
  system: string,
  run: ChildRun & { procPeakRssMaxKb?: number | undefined },
  outTopic: string
): Promise<Measured> => {
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

/** Flink reports firstRecordToEndMs / cpuFirstRecordToEndSec: normalise to the Node children's fields. */
const normaliseFlink = (r: Record<string, unknown>, records: number): Record<string, unknown> => {
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

// ------------------------------------------------------------------------------------------------
// latency runs: fixed input rate, producer schedule time → output LogAppendTime

interface LatencyPoint {
  readonly system: string
  readonly fraction: number
  readonly ratePerSec: number
  readonly produced: number
  readonly measured: number
  readonly missing: number
  readonly achievedRatePerSec: number
  readonly e2eMs: Record<string, number | null>
  readonly systemMs: Record<string, number | null>
}

/** Reads a whole topic (fresh group, from the beginning) up to its current end offsets. */
const readAll = async (
  kafka: Kafka,
  admin: Admin,
  topic: string,
  onMessage: (key: Buffer | null, value: Buffer | null, timestamp: number) => void
) => {
  const ends = await endOffsets(admin, topic)
  if (sum(ends) === 0) return
  const consumer = kafka.consumer({
    groupId: `bench-reader-${topic}-${Date.now()}`,
    maxBytesPerPartition: 4 * 1024 * 1024
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const next = ends.map(() => 0)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reading ${topic} timed out`)), 120_000)
    void consumer.run({
      partitionsConsumedConcurrently: ends.length,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) onMessage(m.key, m.value, Number(m.timestamp))
        next[batch.partition] = Number(batch.lastOffset()) + 1
        if (next.every((n, p) => n >= ends[p]!)) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
  })
  await consumer.disconnect()
}

const txIdOf = (key: Buffer | null, value: Buffer | null, known: Map<string, number>): string | undefined => {
  const k = key?.toString()
  if (k !== undefined && known.has(k)) return k
  if (value === null) return undefined
  try {
    return (JSON.parse(value.toString()) as { transaction_id?: string }).transaction_id
  } catch {
    return undefined
  }
}

const stats = (xs: Array<number>) => {
  xs.sort((a, b) => a - b)
  return {
    p50: percentile(xs, 50),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
    p999: percentile(xs, 99.9),
    max: xs.length === 0 ? null : xs[xs.length - 1]!
  }
}

const latencyPoint = async (
  kafka: Kafka,
  admin: Admin,
  producer: Producer,
  system: "tributary-transactions" | "flink-transactions" | "ceiling",
  fraction: number,
  ratePerSec: number
): Promise<LatencyPoint> => {
  const tag = `${system.split("-")[0]}-lat${Math.round(fraction * 100)}`
  const inTopic = `bench-${runId}-${tag}-in`
  const project = `bench_${runId}_${tag.replace(/-/g, "_")}`
  const outTopic = system === "tributary-transactions" ? `${project}_onlinefs` : `bench-${runId}-${tag}-out`
  // LogAppendTime on both sides: the broker stamps when each record was appended.
  await createTopic(admin, inTopic, params.partitions, { "message.timestamp.type": "LogAppendTime" })
  await createTopic(admin, outTopic, params.partitions, { "message.timestamp.type": "LogAppendTime" })
  // Tributary: K live processes in one consumer group (the probe phase absorbs the group join).
  const liveGroup = `bench-live-${runId}-${tag}`
  const extraMembers = system === "tributary-transactions"
    ? Array.from({ length: params.tributaryProcesses - 1 }, (_, i) =>
      nodeChild(`${tag}-${i + 1}`, "tributary.ts", {
        pipeline: "transactions",
        cardImpl: params.cardImpl,
        bootstrap: params.bootstrap,
        runs: [],
        live: { topic: inTopic, project, outTopic, groupId: liveGroup }
      }))
    : []
  const started = system === "tributary-transactions"
    ? nodeChild(tag, "tributary.ts", {
      pipeline: "transactions",
      cardImpl: params.cardImpl,
      bootstrap: params.bootstrap,
      runs: [],
      live: { topic: inTopic, project, outTopic, groupId: liveGroup }
    })
    : system === "ceiling"
    ? nodeChild(tag, "ceiling.ts", { bootstrap: params.bootstrap, runs: [], live: { topic: inTopic, outTopic } })
    : flinkChild(tag, {
      mode: "transactions",
      bootstrap: params.bootstrap,
      in: inTopic,
      out: outTopic,
      bounded: "false",
      parallelism: String(params.flinkParallelism),
      "checkpoint-ms": String(params.flinkCheckpointMs),
      group: `flink-${tag}`,
      schema: txSubjectSchema(project),
      headers: FG_HEADERS
    })

  const simulator = new TransactionsSimulator(4242 + Math.round(fraction * 100), 0)
  const scheduled = new Map<string, number>()
  let sentProbes = 0
  // Probe until the system answers (start-up, group join, MiniCluster), then the fixed-rate phase.
  const probeDeadline = Date.now() + 120_000
  while (sum(await endOffsets(admin, outTopic)) === 0) {
    if (Date.now() > probeDeadline) throw new Error(`${system} produced nothing within 120 s`)
    const r = simulator.next(TX_EPOCH)
    await produceMessages(producer, inTopic, [{ key: r.key, value: r.value }])
    sentProbes++
    await sleep(500)
  }
  const warmupMs = params.latencyWarmupSeconds * 1000
  const totalMs = warmupMs + params.latencySeconds * 1000
  const total = Math.round((ratePerSec * totalMs) / 1000)
  const t0 = Date.now() + 50
  let sent = 0
  while (sent < total) {
    const now = Date.now()
    const due = Math.min(total, Math.floor(((now - t0) * ratePerSec) / 1000)) - sent
    if (due <= 0) {
      await sleep(2)
      continue
    }
    const messages = []
    for (let i = 0; i < due; i++) {
      const at = Math.round(t0 + ((sent + i) * 1000) / ratePerSec)
      const r = simulator.next(at)
      const id = (JSON.parse(r.value) as { transaction_id: string }).transaction_id
      if (at - t0 >= warmupMs) scheduled.set(id, at)
      messages.push({ key: r.key, value: r.value, timestamp: String(at) })
    }
    await produceMessages(producer, inTopic, messages)
    sent += due
  }
  const producedEnd = Date.now()
  const expected = sent + sentProbes
  const drainDeadline = Date.now() + 60_000
  while (sum(await endOffsets(admin, outTopic)) < expected && Date.now() < drainDeadline) await sleep(200)
  await Promise.all([started, ...extraMembers].map(stopChild))

  const inputAppend = new Map<string, number>()
  await readAll(kafka, admin, inTopic, (_key, value, ts) => {
    const id = txIdOf(null, value, scheduled)
    if (id !== undefined && scheduled.has(id)) inputAppend.set(id, ts)
  })
  const e2e: Array<number> = []
  const sys: Array<number> = []
  const seen = new Set<string>()
  await readAll(kafka, admin, outTopic, (key, value, ts) => {
    const id = txIdOf(key, value, scheduled)
    if (id === undefined || seen.has(id)) return
    const at = scheduled.get(id)
    if (at === undefined) return
    seen.add(id)
    e2e.push(ts - at)
    const appended = inputAppend.get(id)
    if (appended !== undefined) sys.push(ts - appended)
  })
  const point: LatencyPoint = {
    system,
    fraction,
    ratePerSec: Math.round(ratePerSec),
    produced: sent,
    measured: seen.size,
    missing: scheduled.size - seen.size,
    achievedRatePerSec: Math.round(sent / ((producedEnd - t0) / 1000)),
    e2eMs: stats(e2e),
    systemMs: stats(sys)
  }
  log(
    `latency ${system} @${point.ratePerSec}/s: p50 ${point.e2eMs["p50"]} ms, p99 ${
      point.e2eMs["p99"]
    } ms (${point.measured} records, ${point.missing} missing)`
  )
  return point
}

// ------------------------------------------------------------------------------------------------
// main

const main = async () => {
  log(`run ${runId}:`, JSON.stringify(params))
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
  if (!params.skipFlink) buildFlink()
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const load0 = loadavg()

  // ---- data: the same topics feed every system
  const topic = (name: string) => `bench-${runId}-${name}`
  const P = params.partitions
  for (const t of ["tx-in", "tx-warm", "cards-in", "cards-warm"]) await createTopic(admin, topic(t), P)
  log(
    `loading ${params.records} transactions + ${params.records} card transactions (+ ${params.warmupRecords} each for warm-up)`
  )
  const tLoad = Date.now()
  const txData = await loadTransactions(producer, topic("tx-in"), params.records, 1234)
  await loadTransactions(producer, topic("tx-warm"), params.warmupRecords, 99)
  const cardData = await loadCards(producer, topic("cards-in"), params.records, P, 1234)
  await loadCards(producer, topic("cards-warm"), params.warmupRecords, P, 99)
  log(`loaded in ${Math.round((Date.now() - tLoad) / 1000)} s`)
  const ends = {
    txIn: await endOffsets(admin, topic("tx-in")),
    txWarm: await endOffsets(admin, topic("tx-warm")),
    cardsIn: await endOffsets(admin, topic("cards-in")),
    cardsWarm: await endOffsets(admin, topic("cards-warm"))
  }

  const outTopic = async (name: string) => {
    await createTopic(admin, name, P)
    return name
  }
  const throughput: Record<string, Measured> = {}

  // ---- transactions: Tributary (default kafkajs producer, then the @platformatic/kafka one)
  const tributaryTransactions = async (system: string, label: string, producerClient: "kafkajs" | "platformatic") => {
    const projects = { warmup: `bench_${runId}_${label}w`, measured: `bench_${runId}_${label}` }
    await outTopic(`${projects.warmup}_onlinefs`)
    const out = await outTopic(`${projects.measured}_onlinefs`)
    const config = {
      pipeline: "transactions",
      cardImpl: params.cardImpl,
      bootstrap: params.bootstrap,
      producerClient,
      runs: [
        { tag: "warmup", topic: topic("tx-warm"), project: projects.warmup, outTopic: "", endOffsets: ends.txWarm },
        { tag: "measured", topic: topic("tx-in"), project: projects.measured, outTopic: "", endOffsets: ends.txIn }
      ]
    }
    const K = params.tributaryProcesses
    log(`${system} (${producerClient} producer, ${K} process${K > 1 ? "es, one consumer group" : ""})…`)
    throughput[system] = await finish(
      admin,
      system,
      K > 1
        ? await tributaryGroup(system, "transactions", config.runs, K, producerClient)
        : await nodeChild(system, "tributary.ts", config).done,
      out
    )
  }
  await tributaryTransactions("tributary-transactions", "tx", "kafkajs")
  if (params.platformatic) await tributaryTransactions("tributary-transactions-platformatic", "txp", "platformatic")

  // ---- transactions: Flink
  if (!params.skipFlink) {
    const outWarm = await outTopic(topic("flink-tx-warm-out"))
    const out = await outTopic(topic("flink-tx-out"))
    log("flink transactions…")
    const run = await flinkChild("flink-transactions", {
      mode: "transactions",
      bootstrap: params.bootstrap,
      in: topic("tx-in"),
      out,
      "warmup-in": topic("tx-warm"),
      "warmup-out": outWarm,
      parallelism: String(params.flinkParallelism),
      "checkpoint-ms": String(params.flinkCheckpointMs),
      group: `flink-${runId}-tx`,
      schema: txSubjectSchema(`bench_${runId}_tx`),
      headers: FG_HEADERS
    }).done
    run.results.splice(
      0,
      run.results.length,
      ...run.results.map((r) => normaliseFlink(r, r["tag"] === "warmup" ? sum(ends.txWarm) : sum(ends.txIn)))
    )
    throughput["flink-transactions"] = await finish(admin, "flink-transactions", run, out)
  }

  // ---- transactions: ceiling
  {
    const outWarm = await outTopic(topic("ceiling-warm-out"))
    const out = await outTopic(topic("ceiling-out"))
    log("ceiling (raw kafkajs copy)…")
    const run = await nodeChild("ceiling", "ceiling.ts", {
      bootstrap: params.bootstrap,
      runs: [
        { tag: "warmup", topic: topic("tx-warm"), outTopic: outWarm, endOffsets: ends.txWarm },
        { tag: "measured", topic: topic("tx-in"), outTopic: out, endOffsets: ends.txIn }
      ]
    }).done
    throughput["ceiling"] = await finish(admin, "ceiling", run, out)
  }

  // ---- transactions: ceiling with the feature-group headers (what the client charges for them)
  {
    const outWarm = await outTopic(topic("ceiling-headers-warm-out"))
    const out = await outTopic(topic("ceiling-headers-out"))
    log("ceiling with Hopsworks headers (raw kafkajs copy + 4 headers per record)…")
    const run = await nodeChild("ceiling-headers", "ceiling.ts", {
      bootstrap: params.bootstrap,
      system: "ceiling-headers",
      headers: Object.fromEntries(FG_HEADERS.split(",").map((kv) => kv.split("=") as [string, string])),
      runs: [
        { tag: "warmup", topic: topic("tx-warm"), outTopic: outWarm, endOffsets: ends.txWarm },
        { tag: "measured", topic: topic("tx-in"), outTopic: out, endOffsets: ends.txIn }
      ]
    }).done
    throughput["ceiling-headers"] = await finish(admin, "ceiling-headers", run, out)
  }

  // ---- card aggregates: Tributary (default kafkajs producer, then the @platformatic/kafka one)
  const tributaryCards = async (system: string, label: string, producerClient: "kafkajs" | "platformatic") => {
    const projects = { warmup: `bench_${runId}_${label}w`, measured: `bench_${runId}_${label}` }
    await outTopic(`${projects.warmup}_onlinefs`)
    await outTopic(`${projects.measured}_onlinefs`)
    const outWarm = await outTopic(topic(`${system}-warm-out`))
    const outEngine = await outTopic(topic(`${system}-out`))
    const config = {
      pipeline: "cards",
      cardImpl: params.cardImpl,
      bootstrap: params.bootstrap,
      producerClient,
      runs: [
        {
          tag: "warmup",
          topic: topic("cards-warm"),
          project: projects.warmup,
          outTopic: outWarm,
          endOffsets: ends.cardsWarm
        },
        {
          tag: "measured",
          topic: topic("cards-in"),
          project: projects.measured,
          outTopic: outEngine,
          endOffsets: ends.cardsIn
        }
      ]
    }
    const K = params.tributaryProcesses
    log(
      `${system} (${params.cardImpl}, ${producerClient} producer, ${K} process${
        K > 1 ? "es, one consumer group" : ""
      })…`
    )
    const run = K > 1
      ? await tributaryGroup(system, "cards", config.runs, K, producerClient)
      : await nodeChild(system, "tributary.ts", config).done
    throughput[system] = await finish(
      admin,
      system,
      run,
      params.cardImpl === "engine" ? outEngine : `${projects.measured}_onlinefs`
    )
  }
  await tributaryCards("tributary-cards", "card", "kafkajs")
  if (params.platformatic) await tributaryCards("tributary-cards-platformatic", "cardp", "platformatic")

  // ---- card aggregates: Flink
  if (!params.skipFlink) {
    const outWarm = await outTopic(topic("flink-cards-warm-out"))
    const out = await outTopic(topic("flink-cards-out"))
    log("flink card aggregates…")
    const run = await flinkChild("flink-cards", {
      mode: "cards",
      bootstrap: params.bootstrap,
      in: topic("cards-in"),
      out,
      "warmup-in": topic("cards-warm"),
      "warmup-out": outWarm,
      parallelism: String(params.flinkParallelism),
      "checkpoint-ms": String(params.flinkCheckpointMs),
      group: `flink-${runId}-cards`
    }).done
    run.results.splice(
      0,
      run.results.length,
      ...run.results.map((r) => normaliseFlink(r, r["tag"] === "warmup" ? sum(ends.cardsWarm) : sum(ends.cardsIn)))
    )
    throughput["flink-cards"] = await finish(admin, "flink-cards", run, out)
  }

  // ---- latency at 50 % and 80 % of Tributary's measured maximum
  const latency: Array<LatencyPoint> = []
  const txMax = throughput["tributary-transactions"]!.measured["recordsPerSec"] as number
  if (!params.skipLatency) {
    const systems = [
      "tributary-transactions",
      ...(params.skipFlink ? [] : ["flink-transactions" as const]),
      "ceiling"
    ] as const
    for (const fraction of params.latencyFractions) {
      for (const system of systems) {
        latency.push(await latencyPoint(kafka, admin, producer, system, fraction, txMax * fraction))
      }
    }
  }

  // ---- CPU profile of Tributary's transactions pipeline
  let profile: ReturnType<typeof summariseProfile> | undefined
  if (params.profile) {
    const dir = join(RESULTS, "profiles", runId)
    mkdirSync(dir, { recursive: true })
    const project = `bench_${runId}_prof`
    await outTopic(`${project}_onlinefs`)
    log(`profiling tributary transactions, ${params.profileClient} producer (node --cpu-prof)…`)
    const run = await nodeChild("tributary-profile", "tributary.ts", {
      pipeline: "transactions",
      cardImpl: params.cardImpl,
      bootstrap: params.bootstrap,
      producerClient: params.profileClient,
      runs: [{ tag: "measured", topic: topic("tx-in"), project, outTopic: "", endOffsets: ends.txIn }]
    }, ["--cpu-prof", `--cpu-prof-dir=${dir}`]).done
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
    if (file !== undefined) {
      const r = run.results[0]
      profile = summariseProfile(
        join(dir, file),
        25,
        r === undefined ? undefined : { fromUs: r["monoFirstUs"] as number, toUs: r["monoEndUs"] as number }
      )
      log(
        `profile: ${join(dir, file)} (profiled run: ${Math.round(run.results[0]?.["recordsPerSec"] as number)} rec/s)`
      )
    }
  }

  await producer.disconnect()
  await admin.disconnect()

  // ---- results
  const rps = (s: string) => throughput[s]?.measured["recordsPerSec"] as number | undefined
  const rpc = (s: string) => throughput[s]?.measured["recordsPerCpuSec"] as number | undefined
  const ratio = (
    a: number | undefined,
    b: number | undefined
  ) => (a === undefined || b === undefined ? null : round(a / b, 3))
  const ratios = {
    transactionsVsFlink: ratio(rps("tributary-transactions"), rps("flink-transactions")),
    transactionsVsCeiling: ratio(rps("tributary-transactions"), rps("ceiling")),
    transactionsVsCeilingWithHeaders: ratio(rps("tributary-transactions"), rps("ceiling-headers")),
    // The same pipeline with KAFKA_PRODUCER_CLIENT=platformatic.
    transactionsPlatformaticVsFlink: ratio(rps("tributary-transactions-platformatic"), rps("flink-transactions")),
    transactionsPlatformaticVsCeiling: ratio(rps("tributary-transactions-platformatic"), rps("ceiling")),
    cardAggregatesVsFlink: ratio(rps("tributary-cards"), rps("flink-cards")),
    cardAggregatesPlatformaticVsFlink: ratio(rps("tributary-cards-platformatic"), rps("flink-cards")),
    perCpuSecond: {
      transactionsVsFlink: ratio(rpc("tributary-transactions"), rpc("flink-transactions")),
      transactionsVsCeiling: ratio(rpc("tributary-transactions"), rpc("ceiling")),
      transactionsVsCeilingWithHeaders: ratio(rpc("tributary-transactions"), rpc("ceiling-headers")),
      transactionsPlatformaticVsFlink: ratio(rpc("tributary-transactions-platformatic"), rpc("flink-transactions")),
      transactionsPlatformaticVsCeiling: ratio(rpc("tributary-transactions-platformatic"), rpc("ceiling")),
      cardAggregatesVsFlink: ratio(rpc("tributary-cards"), rpc("flink-cards")),
      cardAggregatesPlatformaticVsFlink: ratio(rpc("tributary-cards-platformatic"), rpc("flink-cards"))
    },
    latencyP99: Object.fromEntries(params.latencyFractions.map((f) => {
      const p99 = (s: string) => latency.find((l) => l.system === s && l.fraction === f)?.e2eMs["p99"] ?? undefined
      return [`at${Math.round(f * 100)}pct`, {
        transactionsVsFlink: ratio(p99("tributary-transactions") ?? undefined, p99("flink-transactions") ?? undefined),
        transactionsVsCeiling: ratio(p99("tributary-transactions") ?? undefined, p99("ceiling") ?? undefined)
      }]
    }))
  }
  const java = (() => {
    try {
      return execFileSync("java", ["-version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) || undefined
    } catch (e) {
      return String((e as { stderr?: string }).stderr ?? "")
    }
  })()
  const report = {
    date: new Date().toISOString(),
    runId,
    preliminary: params.records < 1_000_000,
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadavgBefore: load0,
      loadavgAfter: loadavg(),
      node: process.version,
      java: java?.split("\n")[0],
      brokerPid: BROKER
    },
    params,
    data: { transactions: txData, cards: cardData, endOffsets: ends },
    throughput,
    latency,
    ratios,
    profile
  }
  const file = join(RESULTS, `${new Date().toISOString().slice(0, 10)}.json`)
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  printTable(throughput, latency, ratios)
  log(`results: ${file}`)
  if (profile !== undefined) console.log(`\nTop self time (Tributary transactions):\n${profile.table}`)
}

const printTable = (
  throughput: Record<string, Measured>,
  latency: ReadonlyArray<LatencyPoint>,
  ratios: Record<string, unknown>
) => {
  const rows = Object.values(throughput).map((t) => ({
    system: t.system,
    "rec/s": Math.round(t.measured["recordsPerSec"] as number),
    "rec/CPU-s": Math.round(t.measured["recordsPerCpuSec"] as number),
    "CPU util": round(t.measured["cpuUtilisation"] as number, 2),
    "wall ms": t.measured["wallMs"],
    "startup ms": t.measured["startupMs"],
    "group formed ms": t.measured["groupFormedMs"] ?? null,
    "peak RSS MiB": t.procPeakRssKb === undefined ? null : Math.round(t.procPeakRssKb / 1024),
    "max proc RSS MiB": Math.round((t.procPeakRssMaxKb ?? t.procPeakRssKb ?? 0) / 1024) || null,
    "broker CPU-s": round(t.brokerCpuSec, 2),
    outputs: t.outputRecords
  }))
  console.log(
    `\nThroughput (same data, partitions and acks; measured run after a warm-up run in the same process(es); ` +
      `Tributary: ${params.tributaryProcesses} process(es) in one consumer group, peak RSS summed over them)`
  )
  console.table(rows)
  if (latency.length > 0) {
    console.log(
      `End-to-end latency (producer schedule time → output LogAppendTime), ms; ` +
        `Tributary: ${params.tributaryProcesses} process(es) in one consumer group`
    )
    console.table(latency.map((l) => ({
      system: l.system,
      load: `${Math.round(l.fraction * 100)}%`,
      "rate/s": l.ratePerSec,
      achieved: l.achievedRatePerSec,
      p50: l.e2eMs["p50"],
      p99: l.e2eMs["p99"],
      max: l.e2eMs["max"],
      "sys p50": l.systemMs["p50"],
      "sys p99": l.systemMs["p99"],
      records: l.measured,
      missing: l.missing
    })))
  }
  console.log("Ratios (Tributary / other; records per second unless noted)")
  console.log(JSON.stringify(ratios, null, 2))
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(error)
    process.exit(1)
  }
)
