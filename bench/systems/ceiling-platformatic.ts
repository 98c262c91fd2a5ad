/**
 * Child process of bench/run.ts: the raw @platformatic/kafka copy — the default client's ceiling.
 * The same bytes out, with no processing: the client's low-level fetch (every partition of the
 * topic in one request, 4 MiB per partition, as Tributary's source asks) → produce (acks -1, no
 * compression, requests under 768 KiB). No consumer group and no commits: nothing but moving
 * records. Fetching and producing overlap (the next fetch is in flight while the previous records
 * are produced), so this is what the client can do when neither side waits on the other.
 * With `headers`, every record also carries the four Hopsworks headers (one shared map, as
 * Tributary's writer sends them).
 *
 *   node bench/systems/ceiling-platformatic.ts '<json config>'
 */
import { Consumer, FetchIsolationLevels, type MessageToProduce, ProduceAcks, Producer } from "@platformatic/kafka"
import { emitResult, procMemory, selfCpuSeconds, sum } from "../lib/common.ts"

interface CopyRun {
  readonly tag: string
  readonly topic: string
  readonly outTopic: string
  readonly endOffsets: ReadonlyArray<number>
}

interface CopyConfig {
  readonly bootstrap: string
  readonly runs: ReadonlyArray<CopyRun>
  readonly headers?: Record<string, string> | undefined
  readonly system?: string | undefined
}

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

const config = JSON.parse(process.argv[2]!) as CopyConfig
const headers = config.headers === undefined
  ? undefined
  : new Map(Object.entries(config.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]))
// Requests under the broker's 1 MiB batch limit, sized as Tributary's sink sizes them.
const MAX_REQUEST_BYTES = 768 * 1024
const headerBytes = headers === undefined ? 0 : [...headers].reduce((n, [k, v]) => n + k.length + v.length + 8, 0)
// Fetched but not yet produced: the fetch loop waits above this (back-pressure).
const MAX_QUEUED = 200_000

const copy = async (run: CopyRun) => {
  const expected = sum(run.endOffsets)
  const clientId = `bench-ceiling-platformatic-${run.tag}`
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId,
    bootstrapBrokers: [config.bootstrap],
    groupId: `${clientId}-${Date.now()}`,
    maxBytesPerPartition: 4 * 1024 * 1024
  })
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId,
    bootstrapBrokers: [config.bootstrap],
    acks: ProduceAcks.ALL,
    idempotent: false
  })
  const metadata = await consumer.metadata({ topics: [run.topic] })
  const topicMeta = metadata.topics.get(run.topic)!
  const leader = topicMeta.partitions[0]!.leader
  const offsets = run.endOffsets.map(() => 0n)
  const queue: Array<Message> = []
  let fetched = 0
  let produced = 0
  let firstAt: number | undefined
  let firstCpu = 0
  let wake: (() => void) | undefined
  const signal = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const waitSignal = () => new Promise<void>((resolve) => (wake = resolve))

  const fetchLoop = async () => {
    while (fetched < expected) {
      while (queue.length > MAX_QUEUED) await waitSignal()
      const response = await consumer.fetch({
        node: leader,
        maxWaitTime: 500,
        minBytes: 1,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        topics: [{
          topicId: topicMeta.id,
          partitions: offsets.map((offset, partition) => ({
            partition,
            fetchOffset: offset,
            partitionMaxBytes: 4 * 1024 * 1024,
            currentLeaderEpoch: -1,
            lastFetchedEpoch: -1
          }))
        }]
      })
      for (const t of response.responses) {
        for (const { partitionIndex, records: batches } of t.partitions) {
          for (const batch of batches ?? []) {
            const end = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n
            const from = offsets[partitionIndex]!
            if (end > from) offsets[partitionIndex] = end
            const first = Number(batch.firstOffset)
            for (const r of batch.records) {
              if (first + r.offsetDelta < Number(from)) continue
              const m: Message = { topic: run.outTopic }
              if (r.value !== null && r.value !== undefined) m.value = r.value
              if (r.key !== null && r.key !== undefined) m.key = r.key
              if (headers !== undefined) m.headers = headers
              queue.push(m)
              fetched++
            }
          }
        }
      }
      if (firstAt === undefined && fetched > 0) {
        firstAt = Date.now()
        firstCpu = selfCpuSeconds()
      }
      signal()
    }
  }

  // Two requests in flight, as Tributary's transactions output writes two batches at a time.
  const inFlight = new Set<Promise<void>>()
  const send = async (messages: Array<Message>) => {
    while (inFlight.size >= 2) await Promise.race(inFlight)
    const p = producer.send({ messages, acks: ProduceAcks.ALL }).then(() => {
      produced += messages.length
      inFlight.delete(p)
    })
    inFlight.add(p)
  }

  const produceLoop = async () => {
    let dispatched = 0
    while (dispatched < expected) {
      if (queue.length === 0) {
        await waitSignal()
        continue
      }
      const messages = queue.splice(0, queue.length)
      signal()
      for (let from = 0; from < messages.length;) {
        let bytes = 0
        let to = from
        while (to < messages.length && (to === from || bytes < MAX_REQUEST_BYTES)) {
          const m = messages[to]!
          bytes += 70 + (m.value?.length ?? 0) + (m.key?.length ?? 0) + headerBytes
          to++
        }
        await send(messages.slice(from, to))
        dispatched += to - from
        from = to
      }
    }
    await Promise.all(inFlight)
  }

  await Promise.all([fetchLoop(), produceLoop()])
  const endAt = Date.now()
  const cpuEnd = selfCpuSeconds()
  const wallMs = endAt - firstAt!
  const cpuSec = cpuEnd - firstCpu
  emitResult({
    system: config.system ?? "ceiling-platformatic",
    impl: headers === undefined ? "platformatic fetch→produce" : "platformatic fetch→produce, + Hopsworks headers",
    tag: run.tag,
    records: expected,
    recordsIn: fetched,
    recordsOut: produced,
    firstAt,
    endAt,
    startupMs: 0,
    wallMs,
    recordsPerSec: expected / (wallMs / 1000),
    cpuSec,
    recordsPerCpuSec: expected / cpuSec,
    cpuUtilisation: cpuSec / (wallMs / 1000),
    vmHwmKb: procMemory("self")?.hwmKb
  })
  await producer.close()
  await consumer.close()
}

process.on("SIGTERM", () => process.exit(0))
for (const run of config.runs) await copy(run)
process.exit(0)
