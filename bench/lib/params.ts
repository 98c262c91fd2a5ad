/**
 * The orchestrator's settings: command-line flags, the run id, where results and logs go, and its
 * log line. Imported by bench/run.ts and the orchestrator-side modules next to this one (not by the
 * child processes in bench/systems/, which get their settings as a JSON argument).
 */
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseFlags } from "./common.ts"

export const BENCH = dirname(dirname(fileURLToPath(import.meta.url)))
export const ROOT = dirname(BENCH)
export const RESULTS = join(BENCH, "results")
export const LOGS = join(RESULTS, "logs")

export const HELP =
  `Tributary vs Flink vs raw client copies vs Kafka's own tools, side by side on the same broker, data,
partitions and acks.

  node bench/run.ts [flags]          (npm run bench -- [flags])

  --records N                  records per source topic (default 1000000)
  --partitions P               partitions of every topic (default 3)
  --warmup-records W           size of the warm-up topics (default N/5, clamped to 5000-50000)
  --skip-flink                 leave out both Flink jobs
  --skip-latency               leave out the fixed-rate latency runs
  --latency-seconds D          measured part of each latency run (default 20)
  --latency-warmup-seconds S   discarded part of each latency run (default 5)
  --profile                    one more run of each pipeline under node --cpu-prof
  --profile-client C           kafkajs | platformatic: the client of the profiled runs (default platformatic)
  --skip-platformatic          leave out the Tributary runs on @platformatic/kafka
  --skip-ceilings              leave out the raw @platformatic/kafka copies and Kafka's Java perf tools
  --only S1,S2                 run only these systems (names as in the table)
  --skip-stage-cost            leave out the per-stage CPU cost (bench/stage-cost.ts, no Kafka)
  --tributary-processes K      Tributary as K processes in one consumer group (default 1)
  --card-impl I                pipeline | engine (default pipeline)
  --flink-parallelism N        (default 2)
  --flink-checkpoint-ms MS     AT_LEAST_ONCE checkpoint interval, 0 = off (default 1000)
  --bootstrap HOST:PORT        (default 127.0.0.1:19092)
  --help                       this text

Writes bench/results/<YYYY-MM-DD>.json and prints a table; see bench/README.md.`

const flags = parseFlags(process.argv.slice(2))
// parseFlags skips arguments without "--"; -h is the one short form worth honouring.
export const wantsHelp = flags.has("help") || process.argv.includes("-h")

const num = (name: string, fallback: number) => (flags.has(name) ? Number(flags.get(name)) : fallback)

/** Serialised as-is into the result JSON (`params`): keep the keys and their order. */
export const params = {
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
  /** Leave out the raw @platformatic/kafka copies and Kafka's own producer/consumer perf tools. */
  skipCeilings: flags.has("skip-ceilings"),
  /** Only these systems (by name), when given. */
  only: flags.get("only")?.split(",").map((s) => s.trim()),
  skipStageCost: flags.has("skip-stage-cost"),
  /** The client of the profiled runs (the default one). */
  profileClient: (flags.get("profile-client") ?? "platformatic") as "kafkajs" | "platformatic",
  flinkCheckpointMs: num("flink-checkpoint-ms", 1000),
  acks: -1
}
export type Params = typeof params
export type ProducerClient = Params["profileClient"]

/**
 * How long one throughput child (warm-up and measured run together) may take before it is stopped
 * and the benchmark fails: generous, since it only has to catch a child that never reaches its N
 * (the slowest system so far does ~15k rec/s; this allows ~1k rec/s plus 10 min of start-up).
 */
export const childTimeoutMs = 600_000 + params.records + params.warmupRecords

export const runId = `${new Date().toISOString().replace(/[-:T]/g, "").slice(4, 14)}`

/** Topic names of this run: every run's topics are distinct, so runs never read each other's data. */
export const topic = (name: string) => `bench-${runId}-${name}`
/** A local Hopsworks project of this run: its feature groups write to `<project>_onlinefs`. */
export const project = (label: string) => `bench_${runId}_${label}`

export const log = (...args: Array<unknown>) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args)
