/**
 * CPU and wall time per record of one `@platformatic/kafka` produce (acks -1), with and without the
 * four Hopsworks headers, for the sizes the pipelines send: what the feature-group protocol costs in
 * the client's own request building and in Tributary's (`OneBufferProducer`, src/kafka/ProduceRequest.ts). One topic of its own (`bench-produce-cost-<time>`, 3 partitions); each case is
 * sent 6 times and the first (warm-up) dropped; the best of the rest is printed.
 *
 *   node bench/produce-cost.ts [--bootstrap 127.0.0.1:19092]
 */
import { Admin, ProduceAcks, Producer } from "@platformatic/kafka"
import { OneBufferProducer } from "../src/kafka/ProduceRequest.ts"
import { parseFlags } from "./lib/common.ts"

const bootstrap = parseFlags(process.argv.slice(2)).get("bootstrap") ?? "127.0.0.1:19092"
const topic = `bench-produce-cost-${Date.now()}`
const admin = new Admin({ clientId: "bench-produce-cost", bootstrapBrokers: [bootstrap] })
await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
await admin.close()

const options = {
  clientId: "bench-produce-cost",
  bootstrapBrokers: [bootstrap],
  acks: ProduceAcks.ALL,
  idempotent: false
}
const producers = [
  ["client's", new Producer<Buffer, Buffer, Buffer, Buffer>(options)],
  ["one buffer", new OneBufferProducer(options)]
] as const
// The values the local Hopsworks stand-in gives; one shared map, as Tributary's sink sends them.
const headers = new Map(
  [["projectId", "119"], ["featureGroupId", "1000"], ["subjectId", "2000"], ["onlineIngestionId", "1001"]].map((
    [k, v]
  ) => [Buffer.from(k!), Buffer.from(v!)])
)

const messages = (n: number, withHeaders: boolean, valueBytes: number) =>
  Array.from({ length: n }, (_, i) => ({
    topic,
    key: Buffer.from(String(i % 1000)),
    value: Buffer.alloc(valueBytes, 1),
    ...(withHeaders ? { headers } : {})
  }))

// Card rows (~30-byte Avro, ~4.6k per write) and transactions (~60-byte Avro, ~2.7k per request).
const cases = [[4600, 30], [2700, 60]] as const
const rows: Array<Record<string, unknown>> = []
for (const [requests, producer] of producers) {
  for (const [n, valueBytes] of cases) {
    for (const withHeaders of [true, false]) {
      let wall = Infinity
      let cpu = Infinity
      for (let round = 0; round < 6; round++) {
        const batch = messages(n, withHeaders, valueBytes)
        const c0 = process.cpuUsage()
        const t0 = performance.now()
        await producer.send({ messages: batch, acks: ProduceAcks.ALL })
        const c = process.cpuUsage(c0)
        if (round === 0) continue
        wall = Math.min(wall, performance.now() - t0)
        cpu = Math.min(cpu, (c.user + c.system) / 1000)
      }
      rows.push({
        requests,
        records: n,
        "value bytes": valueBytes,
        headers: withHeaders ? 4 : 0,
        "wall µs/record": Math.round((wall * 1000 * 10) / n) / 10,
        "CPU µs/record": Math.round((cpu * 1000 * 10) / n) / 10
      })
    }
  }
  await producer.close()
}
console.table(rows)
