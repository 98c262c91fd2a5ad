import { type MessageToProduce, ProduceAcks } from "@platformatic/kafka"
import { Effect } from "effect"
import { KafkaConfig, type KafkaSettings } from "../config/KafkaConfig.ts"
import { KafkaClient } from "./KafkaClient.ts"
import { kafkaError } from "./KafkaError.ts"
import type { OutgoingRecord } from "./KafkaRecord.ts"
import { chunksBySize } from "./KafkaSink.ts"
import { murmur2 } from "./KeyPartitioner.ts"
import { connectionOptions } from "./PlatformaticConsumerApi.ts"
import { OneBufferProducer } from "./ProduceRequest.ts"

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

/** How long a producer waits before it retries a failed request. */
export const retryDelayMs = 300

/** Producer options for the configured cluster: connection, TLS/SASL, acks from all replicas, Java's key placement. */
export const producerOptions = (client: KafkaClient["Service"], settings: KafkaSettings) => ({
  clientId: settings.clientId,
  bootstrapBrokers: [...client.brokers],
  ...connectionOptions(client, settings),
  retries: 8,
  retryDelay: retryDelayMs,
  acks: ProduceAcks.ALL,
  autocreateTopics: true,
  partitioner: javaCompatiblePartitioner()
})

/**
 * Plain sends through @platformatic/kafka's producer (KAFKA_PRODUCER_CLIENT=platformatic, the default
 * with KAFKA_CLIENT=platformatic). kafkajs spends about half of a feature-group write encoding each
 * record's four Hopsworks headers (a fresh zero-filled buffer per header); this client writes them
 * straight into the request and measures faster (see bench/README.md). Same contract: acks from all
 * in-sync replicas, Java-compatible key partitioning, order kept per partition, requests under the
 * broker's size limit.
 */
export const makePlatformaticSend = Effect.gen(function*() {
  const client = yield* KafkaClient
  const settings = yield* KafkaConfig
  const producer = yield* Effect.acquireRelease(
    Effect.sync(() => new OneBufferProducer({ ...producerOptions(client, settings), idempotent: false })),
    (p) => Effect.promise(() => p.close().catch(() => undefined))
  )
  const toMessage = messageConverter()
  return (records: ReadonlyArray<OutgoingRecord>) =>
    records.length === 0 ? Effect.void : Effect.tryPromise({
      try: async () => {
        for (const chunk of chunksBySize(records)) {
          await producer.send({ messages: chunk.map(toMessage), acks: ProduceAcks.ALL })
        }
      },
      catch: kafkaError("produce")
    })
})

/**
 * Java's default partitioning: murmur2 of the key with the sign bit cleared (the client takes it modulo
 * the partition count); unkeyed records rotate. The client's own default hashes differently.
 */
const javaCompatiblePartitioner = () => {
  let next = Math.floor(Math.random() * 0x7fffffff)
  return (_message: Message, key: Buffer | undefined): number =>
    key === undefined || key === null ? (next = (next + 1) & 0x7fffffff) : murmur2(key) & 0x7fffffff
}

/** OutgoingRecord → client message. Header objects are shared by a writer's records: converted once each. */
export const messageConverter = () => {
  const headerMaps = new WeakMap<object, Map<Buffer, Buffer>>()
  const headersOf = (headers: NonNullable<OutgoingRecord["headers"]>): Map<Buffer, Buffer> => {
    let map = headerMaps.get(headers)
    if (map === undefined) {
      map = new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k, "utf8"), toBuffer(v)]))
      // Only frozen objects are certain not to change under the cache.
      if (Object.isFrozen(headers)) headerMaps.set(headers, map)
    }
    return map
  }
  return (r: OutgoingRecord): Message => {
    const message: Message = { topic: r.topic }
    if (r.key !== null && r.key !== undefined) message.key = toBuffer(r.key)
    if (r.value !== null) message.value = toBuffer(r.value)
    if (r.headers !== undefined) message.headers = headersOf(r.headers)
    if (r.partition !== undefined) message.partition = r.partition
    if (r.timestamp !== undefined) message.timestamp = BigInt(r.timestamp)
    return message
  }
}

const toBuffer = (v: Buffer | string): Buffer => (typeof v === "string" ? Buffer.from(v, "utf8") : v)
