/**
 * Tributary vs Flink vs raw client copies vs Kafka's own tools, side by side on the same broker, data,
 * partitions and acks.
 *
 *   node bench/run.ts [--records N] [--partitions P] [--skip-flink] [--skip-latency] [--profile] …
 *   node bench/run.ts --help
 *
 * Each system runs in its own child process (one after another, never at the same time), so CPU and
 * peak RSS are per system. The systems are listed in bench/lib/systems.ts; the harness they run in is
 * bench/lib/harness.ts. See bench/README.md for what is measured and how.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { join } from "node:path"
import { buildFlink } from "./lib/children.ts"
import { createTopic } from "./lib/common.ts"
import { connect, type Harness, loadInputs, runThroughput } from "./lib/harness.ts"
import { runLatency } from "./lib/latency.ts"
import { BENCH, HELP, log, LOGS, params, RESULTS, runId, wantsHelp } from "./lib/params.ts"
import { buildReport, computeRatios, printTable } from "./lib/report.ts"
import { profileTributary, SYSTEMS } from "./lib/systems.ts"

const main = async () => {
  log(`run ${runId}:`, JSON.stringify(params))
  mkdirSync(LOGS, { recursive: true })
  const { kafka, admin, producer } = await connect(params)
  if (!params.skipFlink) buildFlink()
  const loadavgBefore = loadavg()
  const data = await loadInputs(params, admin, producer)
  const h: Harness = {
    params,
    kafka,
    admin,
    producer,
    ends: data.ends,
    outTopic: async (name, configs) => {
      await createTopic(admin, name, params.partitions, configs)
      return name
    }
  }

  const throughput = await runThroughput(h, SYSTEMS)
  // Latency at fixed fractions of Tributary's measured maximum transactions rate (when it ran).
  const txMax = throughput["tributary-transactions"]?.measured["recordsPerSec"] as number | undefined
  if (!params.skipLatency && txMax === undefined) log("no tributary-transactions run: latency left out")
  const latency = params.skipLatency || txMax === undefined ? [] : await runLatency(h, SYSTEMS, txMax)
  const profile = params.profile ? await profileTributary(h) : undefined
  const stageCost = params.skipStageCost ? undefined : measureStageCost()

  await producer.disconnect()
  await admin.disconnect()

  const ratios = computeRatios(throughput, latency, params.latencyFractions)
  const report = buildReport({
    params,
    loadavgBefore,
    data: { transactions: data.transactions, cards: data.cards, endOffsets: data.ends },
    throughput,
    latency,
    ratios,
    profile,
    stageCost
  })
  const file = join(RESULTS, `${new Date().toISOString().slice(0, 10)}.json`)
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  printTable(params, throughput, latency, ratios)
  log(`results: ${file}`)
  for (const [pipeline, summary] of Object.entries(profile ?? {})) {
    console.log(`\nTop self time (Tributary ${pipeline}, measured window):\n${summary.table}`)
  }
}

/** CPU µs per record of each in-process stage (bench/stage-cost.ts), in a process of its own. */
const measureStageCost = (): unknown => {
  log("stage cost per record (no Kafka: decode, engine, encode)…")
  const out = execFileSync(
    process.execPath,
    [join(BENCH, "stage-cost.ts"), "--json", "--records", String(Math.min(params.records, 300_000))],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }
  )
  return JSON.parse(out.trim().split("\n").at(-1)!)
}

if (wantsHelp) {
  console.log(HELP)
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      log(error)
      process.exit(1)
    }
  )
}
