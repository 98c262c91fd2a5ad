/**
 * Child process of bench/run.ts: the "ceiling" — raw kafkajs consume-and-produce of the same bytes
 * with no processing: eachBatch → sendBatch (acks -1, no compression, same chunking under the 1 MiB
 * request limit as Tributary's KafkaSink), offsets committed by kafkajs after each batch, the same
 * consumer settings as Tributary's source (maxBytesPerPartition 4 MiB, 2 partitions concurrently).
 * With `headers`, every produced record also carries them (the Hopsworks headers Tributary must send):
 * the same copy, priced with what the feature-group protocol adds per record in the client.
 * First on the warm-up topic, then on the measured topic; then optionally live until SIGTERM.
 *
 *   node bench/systems/ceiling.ts '<json config>'
 */
import { CompressionTypes, type Consumer, type Message, type Producer } from "kafkajs"
import { chunkMessages, emitResult, makeKafka, procMemory, READY_LINE, selfCpuSeconds, sum } from "../lib/common.ts"

interface CeilingRun {
  readonly tag: string
  readonly topic: string
  readonly outTopic: string
  readonly endOffsets: ReadonlyArray<number>
}

interface CeilingConfig {
  readonly bootstrap: string
  readonly runs: ReadonlyArray<CeilingRun>
  readonly live?: { readonly topic: string; readonly outTopic: string } | undefined
  /** Headers added to every produced record (one shared object, as Tributary's writer does). */
  readonly headers?: Record<string, string> | undefined
  /** The system name in results ("ceiling" or "ceiling-headers"). */
  readonly system?: string | undefined
}

const config = JSON.parse(process.argv[2]!) as CeilingConfig
const kafka = makeKafka(config.bootstrap, "bench-ceiling")
const extraHeaders = config.headers === undefined
  ? undefined
  : Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k, Buffer.from(v, "utf8")]))

const startCopy = async (topic: string, outTopic: string, groupId: string, onProduced: (n: number) => void) => {
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const consumer: Consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: 30_000 })
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let consumed = 0
  let firstAt: number | undefined
  let firstCpu = 0
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachBatch: async ({ batch }) => {
      if (firstAt === undefined) {
        firstAt = Date.now()
        firstCpu = selfCpuSeconds()
      }
      consumed += batch.messages.length
      const messages: Array<Message> = batch.messages.map((m) => {
        const headers = extraHeaders ?? m.headers
        return { key: m.key, value: m.value, ...(headers === undefined ? {} : { headers }) }
      })
      for (const chunk of chunkMessages(messages)) {
        await producer.sendBatch({
          topicMessages: [{ topic: outTopic, messages: chunk }],
          acks: -1,
          compression: CompressionTypes.None
        })
      }
      onProduced(messages.length)
    }
  })
  return {
    joined,
    first: () => (firstAt === undefined ? undefined : { at: firstAt, cpu: firstCpu }),
    consumed: () => consumed,
    stop: async () => {
      await consumer.disconnect().catch(() => undefined)
      await producer.disconnect().catch(() => undefined)
    }
  }
}

const measured = async (run: CeilingRun) => {
  const expected = sum(run.endOffsets)
  const tStart = Date.now()
  let produced = 0
  let tEnd = 0
  let cpuEnd = 0
  let finished = () => {}
  const done = new Promise<void>((resolve) => {
    finished = resolve
  })
  const handle = await startCopy(run.topic, run.outTopic, `bench-ceiling-${run.tag}-${Date.now()}`, (n) => {
    produced += n
    if (produced >= expected && tEnd === 0) {
      tEnd = Date.now()
      cpuEnd = selfCpuSeconds()
      finished()
    }
  })
  await done
  const first = handle.first()!
  const wallMs = tEnd - first.at
  const cpuSec = cpuEnd - first.cpu
  emitResult({
    system: config.system ?? "ceiling",
    impl: extraHeaders === undefined
      ? "kafkajs eachBatch→sendBatch"
      : "kafkajs eachBatch→sendBatch, + Hopsworks headers",
    tag: run.tag,
    records: expected,
    recordsIn: handle.consumed(),
    recordsOut: produced,
    firstAt: first.at,
    endAt: tEnd,
    startupMs: first.at - tStart,
    wallMs,
    recordsPerSec: expected / (wallMs / 1000),
    cpuSec,
    recordsPerCpuSec: expected / cpuSec,
    cpuUtilisation: cpuSec / (wallMs / 1000),
    vmHwmKb: procMemory("self")?.hwmKb
  })
  await handle.stop()
}

process.on("SIGTERM", () => process.exit(0))
for (const run of config.runs) await measured(run)
if (config.live !== undefined) {
  const copy = await startCopy(
    config.live.topic,
    config.live.outTopic,
    `bench-ceiling-live-${Date.now()}`,
    () => undefined
  )
  await copy.joined
  process.stdout.write(`${READY_LINE}\n`)
  await new Promise(() => undefined)
} else {
  process.exit(0)
}
