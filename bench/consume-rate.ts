/**
 * Raw consume rate of each KafkaSource backend, no pipeline behind it: N transaction records (the
 * bench's ~150-byte JSON values) on one topic, read from the beginning by a fresh consumer group per
 * run, batches taken as fast as they come (nothing committed). Runs the backends in turn, `--rounds`
 * times each, on the same topic.
 *
 *   node bench/consume-rate.ts [--records 200000] [--partitions 3] [--rounds 2] [--bootstrap 127.0.0.1:19092]
 *
 * `total` counts from subscribe to the last record (group join included); `steady` from the first batch.
 */
import { Effect, Layer, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { KafkaConfig } from "../src/config/KafkaConfig.ts"
import { KafkaClient } from "../src/kafka/KafkaClient.ts"
import { kafkaSourceLayer } from "../src/kafka/KafkaLayer.ts"
import { KafkaSource } from "../src/kafka/KafkaSource.ts"
import { loadTransactions, makeKafka, parseFlags } from "./lib/common.ts"

const flags = parseFlags(process.argv.slice(2))
const records = Number(flags.get("records") ?? 200_000)
const partitions = Number(flags.get("partitions") ?? 3)
const rounds = Number(flags.get("rounds") ?? 2)
const bootstrap = flags.get("bootstrap") ?? "127.0.0.1:19092"
const clients = ["kafkajs", "platformatic"] as const

const run = (client: (typeof clients)[number], topic: string) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const cpu = process.cpuUsage()
    const started = performance.now()
    let firstAt: number | undefined
    let taken = 0
    const sub = yield* source.subscribe({ groupId: `bench-consume-${client}-${randomUUID()}`, topics: [topic] })
    yield* sub.events.pipe(
      Stream.tap((e) =>
        Effect.sync(() => {
          if (e._tag !== "Batch") return
          firstAt ??= performance.now()
          taken += e.records.length
        })
      ),
      Stream.takeUntil(() => taken >= records),
      Stream.runDrain
    )
    const end = performance.now()
    const used = process.cpuUsage(cpu)
    return {
      client,
      total: Math.round(records / ((end - started) / 1000)),
      steady: Math.round(records / ((end - firstAt!) / 1000)),
      cpuSeconds: (used.user + used.system) / 1e6
    }
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.fresh(kafkaSourceLayer.pipe(
        Layer.provideMerge(KafkaClient.layer),
        Layer.provideMerge(KafkaConfig.layerWith({ brokers: [bootstrap], clientId: "bench-consume", client }))
      ))
    )
  )

const kafka = makeKafka(bootstrap, "bench-consume-load")
const topic = `bench-consume-${randomUUID().slice(0, 8)}`
const admin = kafka.admin()
await admin.connect()
await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
await admin.disconnect()
const producer = kafka.producer()
await producer.connect()
const loaded = await loadTransactions(producer, topic, records, 42)
await producer.disconnect()
console.log(
  `${records} records (${(loaded.valueBytes / records).toFixed(0)} B values) on ${topic}, ${partitions} partitions`
)

for (let round = 1; round <= rounds; round++) {
  for (const client of clients) {
    const r = await Effect.runPromise(run(client, topic))
    console.log(
      `round ${round} ${r.client.padEnd(12)} steady ${String(r.steady).padStart(8)} rec/s   ` +
        `total ${String(r.total).padStart(8)} rec/s   cpu ${r.cpuSeconds.toFixed(2)} s`
    )
  }
}
