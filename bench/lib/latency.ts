/**
 * Latency runs: a system live on a fresh input topic, fed at a fixed rate by the orchestrator, each
 * record stamped with its scheduled send time; latency is the output's LogAppendTime minus that.
 * The systems taking part are those of the list with a `live` function.
 */
import type { Admin, Kafka } from "kafkajs"
import { TransactionsSimulator } from "../../src/simulator/TransactionsSimulator.ts"
import type { Running } from "./children.ts"
import { createTopic, endOffsets, percentile, produceMessages, sleep, sum, TX_EPOCH } from "./common.ts"
import type { BenchSystem, Harness } from "./harness.ts"
import { log, project, topic } from "./params.ts"

export interface LatencyPoint {
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

/** Both sides stamped by the broker when each record was appended. */
export const APPEND_TIME = { "message.timestamp.type": "LogAppendTime" }

/** Every fraction of `maxRatePerSec`, and at each every live system in list order. */
export const runLatency = async (
  h: Harness,
  systems: ReadonlyArray<BenchSystem>,
  maxRatePerSec: number
): Promise<Array<LatencyPoint>> => {
  const live = systems.filter((s) => s.live !== undefined && (s.enabled === undefined || s.enabled(h.params)))
  const points: Array<LatencyPoint> = []
  for (const fraction of h.params.latencyFractions) {
    for (const system of live) points.push(await latencyPoint(h, system, fraction, maxRatePerSec * fraction))
  }
  return points
}

/**
 * Polls the end offsets of `outTopic` until they sum to at least `n`, for at most `timeoutMs`;
 * `tick` runs before each wait (the probe). True when `n` was reached.
 */
const waitForOutputs = async (
  admin: Admin,
  outTopic: string,
  n: number,
  timeoutMs: number,
  intervalMs: number,
  tick?: () => Promise<void>
): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (sum(await endOffsets(admin, outTopic)) < n) {
    if (Date.now() > deadline) return false
    await tick?.()
    await sleep(intervalMs)
  }
  return true
}

const latencyPoint = async (
  h: Harness,
  system: BenchSystem,
  fraction: number,
  ratePerSec: number
): Promise<LatencyPoint> => {
  const { params, admin, producer } = h
  const tag = `${system.name.split("-")[0]}-lat${Math.round(fraction * 100)}`
  const inTopic = topic(`${tag}-in`)
  await createTopic(admin, inTopic, params.partitions, APPEND_TIME)
  let processes: ReadonlyArray<Running> = []
  try {
    const started = await system.live!(h, { tag, inTopic, project: project(tag.replace(/-/g, "_")) })
    processes = started.processes
    const simulator = new TransactionsSimulator(4242 + Math.round(fraction * 100), 0)
    const scheduled = new Map<string, number>()
    let sentProbes = 0
    // Probe until the system answers (start-up, group join, MiniCluster), then the fixed-rate phase.
    const answered = await waitForOutputs(admin, started.outTopic, 1, 120_000, 500, async () => {
      const r = simulator.next(TX_EPOCH)
      await produceMessages(producer, inTopic, [{ key: r.key, value: r.value }])
      sentProbes++
    })
    if (!answered) throw new Error(`${system.name} produced nothing within 120 s`)
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
        // The scheduled time, not the send time: a generator that falls behind adds to the latency.
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
    // A system that falls short is still measured: the shortfall shows as `missing`.
    await waitForOutputs(admin, started.outTopic, sent + sentProbes, 60_000, 200)
    await Promise.all(processes.map((p) => p.stop()))
    processes = []

    const point = await readLatencies(h.kafka, admin, inTopic, started.outTopic, scheduled)
    const result: LatencyPoint = {
      system: system.name,
      fraction,
      ratePerSec: Math.round(ratePerSec),
      produced: sent,
      measured: point.measured,
      missing: scheduled.size - point.measured,
      achievedRatePerSec: Math.round(sent / ((producedEnd - t0) / 1000)),
      e2eMs: point.e2eMs,
      systemMs: point.systemMs
    }
    log(
      `latency ${system.name} @${result.ratePerSec}/s: p50 ${result.e2eMs["p50"]} ms, p99 ${
        result.e2eMs["p99"]
      } ms (${result.measured} records, ${result.missing} missing)`
    )
    return result
  } finally {
    // On failure too: a live system left running would load the box for the rest of the benchmark.
    await Promise.all(processes.map((p) => p.stop()))
  }
}

/** Matches outputs to the scheduled inputs by transaction id; the first output of each id counts. */
const readLatencies = async (
  kafka: Kafka,
  admin: Admin,
  inTopic: string,
  outTopic: string,
  scheduled: Map<string, number>
) => {
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
  return { measured: seen.size, e2eMs: stats(e2e), systemMs: stats(sys) }
}

/** Reads a whole topic (fresh group, from the beginning) up to its current end offsets. */
const readAll = async (
  kafka: Kafka,
  admin: Admin,
  from: string,
  onMessage: (key: Buffer | null, value: Buffer | null, timestamp: number) => void
) => {
  const ends = await endOffsets(admin, from)
  if (sum(ends) === 0) return
  const consumer = kafka.consumer({
    groupId: `bench-reader-${from}-${Date.now()}`,
    maxBytesPerPartition: 4 * 1024 * 1024
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [from], fromBeginning: true })
  const next = ends.map(() => 0)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reading ${from} timed out`)), 120_000)
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

/** The output key (Tributary, Flink), or the JSON value's transaction_id (the ceiling copies values). */
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
