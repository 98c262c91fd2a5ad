/** Ratios (Tributary / other), the printed tables, and the result JSON's top level. */
import { cpus, loadavg } from "node:os"
import type { summariseProfile } from "../profile-summary.ts"
import { BROKER, javaVersion } from "./children.ts"
import { round } from "./common.ts"
import type { InputEnds, Measured } from "./harness.ts"
import type { LatencyPoint } from "./latency.ts"
import { type Params, runId } from "./params.ts"

/** Key in `ratios` (and `ratios.perCpuSecond`) → [Tributary system, the other system]. */
const PAIRS: ReadonlyArray<readonly [string, string, string]> = [
  ["transactionsVsFlink", "tributary-transactions", "flink-transactions"],
  ["transactionsVsCeiling", "tributary-transactions", "ceiling"],
  ["transactionsVsCeilingWithHeaders", "tributary-transactions", "ceiling-headers"],
  // The same pipeline with KAFKA_PRODUCER_CLIENT=platformatic.
  ["transactionsPlatformaticVsFlink", "tributary-transactions-platformatic", "flink-transactions"],
  ["transactionsPlatformaticVsCeiling", "tributary-transactions-platformatic", "ceiling"],
  ["cardAggregatesVsFlink", "tributary-cards", "flink-cards"],
  ["cardAggregatesPlatformaticVsFlink", "tributary-cards-platformatic", "flink-cards"],
  // The default client (platformatic) against its own raw copy and against the box's limit.
  ["transactionsPlatformaticVsPlatformaticCopy", "tributary-transactions-platformatic", "ceiling-platformatic"],
  [
    "transactionsPlatformaticVsPlatformaticCopyWithHeaders",
    "tributary-transactions-platformatic",
    "ceiling-platformatic-headers"
  ],
  ["transactionsPlatformaticVsKafkaProducerPerf", "tributary-transactions-platformatic", "kafka-producer-perf"],
  ["transactionsPlatformaticVsKafkaConsumerPerf", "tributary-transactions-platformatic", "kafka-consumer-perf"],
  ["cardAggregatesPlatformaticVsKafkaConsumerPerf", "tributary-cards-platformatic", "kafka-consumer-perf"],
  ["platformaticCopyVsKafkaProducerPerf", "ceiling-platformatic", "kafka-producer-perf"]
]
/** Key in each `ratios.latencyP99.at<N>pct` → [Tributary system, the other system]. */
const LATENCY_PAIRS: ReadonlyArray<readonly [string, string, string]> = [
  ["transactionsVsFlink", "tributary-transactions", "flink-transactions"],
  ["transactionsVsCeiling", "tributary-transactions", "ceiling"]
]

const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === undefined || a === null || b === undefined || b === null ? null : round(a / b, 3)

/** null where either side did not run. */
export const computeRatios = (
  throughput: Record<string, Measured>,
  latency: ReadonlyArray<LatencyPoint>,
  fractions: ReadonlyArray<number>
) => {
  const field = (name: string) => (s: string) => throughput[s]?.measured[name] as number | undefined
  const pairs = (value: (s: string) => number | null | undefined, list = PAIRS) =>
    Object.fromEntries(list.map(([key, ours, theirs]) => [key, ratio(value(ours), value(theirs))]))
  // Card aggregates timed to their last acknowledged output instead of the commit covering the input.
  const toLastOutput = (s: string) =>
    (throughput[s]?.measured["toLastOutput"] as { recordsPerSec: number } | undefined)?.recordsPerSec ??
      field("recordsPerSec")(s)
  return {
    ...pairs(field("recordsPerSec")),
    perCpuSecond: pairs(field("recordsPerCpuSec")),
    cardsToLastOutput: {
      cardAggregatesVsFlink: ratio(toLastOutput("tributary-cards"), toLastOutput("flink-cards")),
      cardAggregatesPlatformaticVsFlink: ratio(
        toLastOutput("tributary-cards-platformatic"),
        toLastOutput("flink-cards")
      )
    },
    latencyP99: Object.fromEntries(fractions.map((f) => {
      const p99 = (s: string) => latency.find((l) => l.system === s && l.fraction === f)?.e2eMs["p99"]
      return [`at${Math.round(f * 100)}pct`, pairs(p99, LATENCY_PAIRS)]
    }))
  }
}
export type Ratios = ReturnType<typeof computeRatios>

/** The result JSON (bench/results/<date>.json); `loadavgBefore` is taken before the input is loaded. */
export const buildReport = (input: {
  readonly params: Params
  readonly loadavgBefore: Array<number>
  readonly data: { transactions: unknown; cards: unknown; endOffsets: InputEnds }
  readonly throughput: Record<string, Measured>
  readonly latency: ReadonlyArray<LatencyPoint>
  readonly ratios: Ratios
  readonly profile: Record<string, ReturnType<typeof summariseProfile>> | undefined
  readonly stageCost: unknown
}) => ({
  date: new Date().toISOString(),
  runId,
  preliminary: input.params.records < 1_000_000,
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    loadavgBefore: input.loadavgBefore,
    loadavgAfter: loadavg(),
    node: process.version,
    java: javaVersion(),
    brokerPid: BROKER
  },
  params: input.params,
  data: input.data,
  throughput: input.throughput,
  latency: input.latency,
  ratios: input.ratios,
  profile: input.profile,
  stageCost: input.stageCost
})

export const printTable = (
  params: Params,
  throughput: Record<string, Measured>,
  latency: ReadonlyArray<LatencyPoint>,
  ratios: Ratios
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
  const occupancy = Object.values(throughput).flatMap((t) => {
    const o = t.measured["occupancy"] as
      | { tailMs: number | null; stages: Record<string, { busyMs: number; share: number }> }
      | undefined
    if (o === undefined) return []
    const share = (stage: string) => o.stages[stage]?.share ?? null
    const last = t.measured["toLastOutput"] as { recordsPerSec: number } | undefined
    return [{
      system: t.system,
      "fetch wait": share("fetch wait"),
      prepare: share("prepare"),
      "engine (in prepare)": share("engine"),
      write: share("write"),
      "produce (in write)": share("produce"),
      apply: share("apply"),
      "tail ms": o.tailMs,
      "rec/s to last output": last === undefined ? null : Math.round(last.recordsPerSec)
    }]
  })
  if (occupancy.length > 0) {
    console.log(
      "Stage occupancy of the measured run (busy time / wall time; writes that overlap add up past 1). " +
        "tail: last acknowledged output → end of the run"
    )
    console.table(occupancy)
  }
  console.log("Ratios (Tributary / other; records per second unless noted)")
  console.log(JSON.stringify(ratios, null, 2))
}
