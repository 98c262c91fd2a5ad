/**
 * Shared helpers of the benchmark harness (bench/run.ts and the per-system child processes in
 * bench/systems/): flags, /proc readers, plain-kafkajs topic set-up, data generation, result lines.
 * Plain TypeScript with erasable syntax only: Node 24 runs it directly.
 */
import { type Admin, CompressionTypes, Kafka, logLevel, type Message, type Producer } from "kafkajs"
import { readFileSync } from "node:fs"
import { CardTransactionsSimulator } from "../../src/simulator/CardTransactionsSimulator.ts"
import { TransactionsSimulator } from "../../src/simulator/TransactionsSimulator.ts"

export const RESULT_PREFIX = "BENCH_RESULT "
export const READY_LINE = "BENCH_READY"

/** Prints one machine-readable result line for the orchestrator. */
export const emitResult = (result: Record<string, unknown>): void => {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
}

export const parseResults = (stdout: string): Array<Record<string, unknown>> =>
  stdout.split("\n").filter((l) => l.startsWith(RESULT_PREFIX)).map((l) => JSON.parse(l.slice(RESULT_PREFIX.length)))

/** `--name value` / `--flag` → map. */
export const parseFlags = (argv: ReadonlyArray<string>): Map<string, string> => {
  const out = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith("--")) continue
    const eq = a.indexOf("=")
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1))
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) out.set(a.slice(2), argv[++i]!)
    else out.set(a.slice(2), "true")
  }
  return out
}

// ------------------------------------------------------------------------------------------------
// /proc

const CLK_TCK = 100

/** user + system CPU seconds of a process (children not included), or undefined once it is gone. */
export const procCpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // utime and stime are fields 14 and 15 of the full line, i.e. 11 and 12 here (0-based).
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

/** VmHWM (peak RSS) and VmRSS in kB, or undefined once the process is gone. */
export const procMemory = (pid: number | "self"): { hwmKb: number; rssKb: number } | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN)
    return { hwmKb: kb("VmHWM"), rssKb: kb("VmRSS") }
  } catch {
    return undefined
  }
}

/** Seconds of CPU the process has used, from inside (user + system). */
export const selfCpuSeconds = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

// ------------------------------------------------------------------------------------------------
// Kafka (plain kafkajs: the harness must not depend on the code under test for its own I/O)

export const makeKafka = (bootstrap: string, clientId: string): Kafka =>
  new Kafka({ clientId, brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 8 } })

export const createTopic = async (
  admin: Admin,
  topic: string,
  partitions: number,
  configs: Record<string, string> = {}
): Promise<void> => {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{
      topic,
      numPartitions: partitions,
      replicationFactor: 1,
      configEntries: Object.entries(configs).map(([name, value]) => ({ name, value }))
    }]
  })
}

/** High watermark per partition, by partition number. */
export const endOffsets = async (admin: Admin, topic: string): Promise<Array<number>> => {
  const offsets = await admin.fetchTopicOffsets(topic)
  return offsets.sort((a, b) => a.partition - b.partition).map((p) => Number(p.high))
}

export const sum = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0)

/** Splits messages so that no produce request exceeds the broker's 1 MiB per-partition batch limit. */
export const chunkMessages = (messages: ReadonlyArray<Message>, maxBytes = 768 * 1024): Array<Array<Message>> => {
  const chunks: Array<Array<Message>> = []
  let current: Array<Message> = []
  let bytes = 0
  for (const m of messages) {
    const size = 80 + (m.value?.length ?? 0) + (m.key?.length ?? 0)
    if (bytes + size > maxBytes && current.length > 0) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(m)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Produces with acks=-1, a few requests in flight. */
export const produceMessages = async (producer: Producer, topic: string, messages: ReadonlyArray<Message>) => {
  const chunks = chunkMessages(messages)
  const inFlight = 4
  for (let i = 0; i < chunks.length; i += inFlight) {
    await Promise.all(
      chunks.slice(i, i + inFlight).map((c) =>
        producer.send({ topic, messages: c, acks: -1, compression: CompressionTypes.None })
      )
    )
  }
}

// ------------------------------------------------------------------------------------------------
// data

export const TX_EPOCH = 1_767_225_600_000

/** `count` valid transactions (the simulator's data, keyed by user_id), generated in chunks. */
export async function loadTransactions(producer: Producer, topic: string, count: number, seed: number) {
  const simulator = new TransactionsSimulator(seed, 0)
  let bytes = 0
  for (let done = 0; done < count;) {
    const n = Math.min(20_000, count - done)
    const messages: Array<Message> = []
    for (let i = 0; i < n; i++) {
      const r = simulator.next(TX_EPOCH + done + i)
      bytes += r.value.length
      messages.push({ key: r.key, value: r.value })
    }
    await produceMessages(producer, topic, messages)
    done += n
  }
  return { records: count, valueBytes: bytes }
}

/** Event time advances this much per card record: 100 records per event-time second. */
export const CARD_EVENT_STEP_MS = 10
/** Disorder inside the 60 s out-of-orderness bound, so no record is late. */
export const CARD_MAX_DELAY_MS = 30_000

/**
 * `count` card transactions keyed by cc_num (1000 cards, disorder up to 30 s), then one sentinel
 * record per partition far enough in event time (max + 13 min) that every real window of every
 * partition is closed by the watermark in Tributary too (Flink closes all windows at the end of a
 * bounded input anyway). Sentinel cards are 1_000_000 + partition.
 */
export async function loadCards(producer: Producer, topic: string, count: number, partitions: number, seed: number) {
  const simulator = new CardTransactionsSimulator({ seed, cards: 1000, maxDelayMs: CARD_MAX_DELAY_MS })
  let bytes = 0
  let now = TX_EPOCH
  for (let done = 0; done < count;) {
    const n = Math.min(20_000, count - done)
    const messages: Array<Message> = []
    for (let i = 0; i < n; i++) {
      now += CARD_EVENT_STEP_MS
      const r = simulator.next(now)
      bytes += r.value.length
      messages.push({ key: r.key, value: r.value })
    }
    await produceMessages(producer, topic, messages)
    done += n
  }
  const sentinelTime = now + 13 * 60_000
  const sentinels: Array<Message> = Array.from({ length: partitions }, (_, p) => ({
    key: String(1_000_000 + p),
    partition: p,
    value: JSON.stringify({ tid: `sentinel-${p}`, datetime: sentinelTime, cc_num: 1_000_000 + p, amount: 1 })
  }))
  await produceMessages(producer, topic, sentinels)
  return { records: count + partitions, valueBytes: bytes, eventTimeSpanMs: now - TX_EPOCH }
}

// ------------------------------------------------------------------------------------------------
// statistics

export const percentile = (sorted: ReadonlyArray<number>, p: number): number | null => {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export const round = (x: number | null | undefined, digits = 1): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
