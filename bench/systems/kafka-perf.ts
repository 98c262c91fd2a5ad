/**
 * Child process of bench/run.ts: Kafka's own Java performance tools, the box's physical limit.
 *
 * - `producer`: `org.apache.kafka.tools.ProducerPerformance`, N records of the transactions' JSON
 *   values (a payload file of real ones), acks=all, no compression, unthrottled.
 * - `consumer`: `org.apache.kafka.tools.ConsumerPerformance`, the measured transactions topic from
 *   the beginning (the same input Tributary reads).
 *
 * It runs the tool in a JVM of its own, reads the tool's rate (records/s over the tool's own timed
 * span: from the first send to the last acknowledgement; from the first fetch to the last record,
 * group join left out) and the JVM's CPU over that span (/proc, sampled every 20 ms), and prints one
 * BENCH_RESULT line like every other child. The JVM is cold: this is not Java at its best, it is the
 * tool as Kafka ships it.
 *
 *   node bench/systems/kafka-perf.ts '<json config>'
 */
import { spawn } from "node:child_process"
import { emitResult, procCpuSeconds, procMemory } from "../lib/common.ts"

interface PerfConfig {
  readonly tool: "producer" | "consumer"
  readonly system: string
  readonly bootstrap: string
  /** The tools' classpath (bench/kafka-tools/target/lib/*). */
  readonly classpath: string
  readonly topic: string
  readonly records: number
  /** producer: a file of payloads, one per line. */
  readonly payloadFile?: string | undefined
}

const config = JSON.parse(process.argv[2]!) as PerfConfig

const args = config.tool === "producer"
  ? [
    "org.apache.kafka.tools.ProducerPerformance",
    "--topic",
    config.topic,
    "--num-records",
    String(config.records),
    "--payload-file",
    config.payloadFile!,
    "--throughput",
    "-1",
    "--command-property",
    `bootstrap.servers=${config.bootstrap}`,
    "acks=all",
    "compression.type=none"
  ]
  : [
    "org.apache.kafka.tools.ConsumerPerformance",
    "--bootstrap-server",
    config.bootstrap,
    "--topic",
    config.topic,
    "--num-records",
    String(config.records),
    "--group",
    `bench-consumer-perf-${Date.now()}`,
    "--timeout",
    "60000"
  ]

const child = spawn("java", ["-Xmx512m", "-cp", config.classpath, ...args], { stdio: ["ignore", "pipe", "pipe"] })
const samples: Array<{ at: number; cpu: number }> = []
const sampler = setInterval(() => {
  const cpu = procCpuSeconds(child.pid!)
  if (cpu !== undefined) samples.push({ at: Date.now(), cpu })
}, 20)
let peakKb = 0
const memory = setInterval(() => {
  peakKb = Math.max(peakKb, procMemory(child.pid!)?.hwmKb ?? 0)
}, 100)

let out = ""
let resultAt: number | undefined
child.stdout.on("data", (d: Buffer) => {
  out += d.toString()
  // The producer's last line, or the consumer's CSV row: when it appears, the timed span just ended.
  if (resultAt === undefined && /records sent,|^\d{4}-\d\d-\d\d .*,/m.test(out)) resultAt = Date.now()
})
child.stderr.on("data", (d: Buffer) => process.stderr.write(d))

const code = await new Promise<number | null>((resolve) => child.on("exit", resolve))
clearInterval(sampler)
clearInterval(memory)
process.stdout.write(out)
if (code !== 0 || resultAt === undefined) {
  console.error(`${config.tool} performance tool failed (exit ${code})`)
  process.exit(1)
}

/** CPU the JVM used between two instants, from the samples around them. */
const cpuBetween = (from: number, to: number): number | undefined => {
  const before = samples.toReversed().find((s) => s.at <= from) ?? samples[0]
  const after = samples.find((s) => s.at >= to) ?? samples.at(-1)
  return before === undefined || after === undefined ? undefined : after.cpu - before.cpu
}

let recordsPerSec: number
let extra: Record<string, unknown>
if (config.tool === "producer") {
  const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency/.exec(out)!
  recordsPerSec = Number(m[2])
  extra = { mbPerSec: Number(m[3]), avgLatencyMs: Number(m[4]) }
} else {
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
  // fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const row = out.split("\n").find((l) => /^\d{4}-\d\d-\d\d /.test(l))!.split(",").map((s) => s.trim())
  recordsPerSec = Number(row[9])
  extra = { records: Number(row[4]), rebalanceMs: Number(row[6]), fetchMs: Number(row[7]), mbPerSec: Number(row[8]) }
}
const wallMs = (config.records / recordsPerSec) * 1000
const endAt = resultAt
const firstAt = Math.round(endAt - wallMs)
const cpuSec = cpuBetween(firstAt, endAt) ?? Number.NaN
emitResult({
  system: config.system,
  impl: config.tool === "producer" ? "kafka ProducerPerformance" : "kafka ConsumerPerformance",
  tag: "measured",
  records: config.records,
  firstAt,
  endAt,
  startupMs: null,
  wallMs: Math.round(wallMs),
  recordsPerSec,
  cpuSec,
  recordsPerCpuSec: config.records / cpuSec,
  cpuUtilisation: cpuSec / (wallMs / 1000),
  vmHwmKb: peakKb,
  ...extra
})
process.exit(0)
