import { type MessageToProduce, ProduceAcks, Producer, type SASLOptions } from "@platformatic/kafka"
import { Effect, Layer } from "effect"
import type { SASLOptions as KafkaJsSasl } from "kafkajs"
import { KafkaConfig } from "../config/KafkaConfig.ts"
import { KafkaClient } from "./KafkaClient.ts"
import { kafkaError } from "./KafkaError.ts"
import type { OutgoingRecord } from "./KafkaRecord.ts"
import { chunksBySize, KafkaSink, makeKafkajsSink } from "./KafkaSink.ts"
import { murmur2 } from "./KeyPartitioner.ts"

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

/**
 * KafkaSink whose plain sends go through @platformatic/kafka's producer (KAFKA_PRODUCER_CLIENT=platformatic).
 * kafkajs spends about half of a feature-group write encoding each record's four Hopsworks headers
 * (a fresh zero-filled buffer per header); this client writes them straight into the request and
 * measures faster (see bench/README.md). Same contract: acks from all in-sync replicas, Java-compatible
 * key partitioning, order kept per partition, requests under the broker's size limit. Transactions
 * (sends plus offsets in one Kafka transaction) stay on kafkajs, whose implementation is tested
 * against the broker's transaction protocol.
 */
export const platformaticSinkLayer = Layer.effect(
  KafkaSink,
  Effect.gen(function*() {
    const client = yield* KafkaClient
    const settings = yield* KafkaConfig
    const { transactional } = yield* makeKafkajsSink
    const producer = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new Producer<Buffer, Buffer, Buffer, Buffer>({
          clientId: settings.clientId,
          bootstrapBrokers: [...client.brokers],
          connectTimeout: settings.connectionTimeoutMs,
          requestTimeout: settings.requestTimeoutMs,
          retries: 8,
          retryDelay: 300,
          ...(typeof client.ssl === "object" ? { tls: client.ssl } : {}),
          ...(client.sasl === undefined ? {} : { sasl: toPlatformaticSasl(client.sasl) }),
          acks: ProduceAcks.ALL,
          idempotent: false,
          autocreateTopics: true,
          partitioner: javaCompatiblePartitioner()
        })
      ),
      (p) => Effect.promise(() => p.close().catch(() => undefined))
    )
    const toMessage = messageConverter()

    const send = (records: ReadonlyArray<OutgoingRecord>) =>
      records.length === 0 ? Effect.void : Effect.tryPromise({
        try: async () => {
          for (const chunk of chunksBySize(records)) {
            await producer.send({ messages: chunk.map(toMessage), acks: ProduceAcks.ALL })
          }
        },
        catch: kafkaError("produce")
      })

    return KafkaSink.of({ send, transactional })
  })
)

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
const messageConverter = () => {
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

/** KAFKA_SASL_MECHANISM allows exactly these three (see KafkaConfig). */
const saslMechanisms = { plain: "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512" } as const

const toPlatformaticSasl = (sasl: KafkaJsSasl): SASLOptions => {
  const { mechanism, password, username } = sasl as Extract<KafkaJsSasl, { mechanism: keyof typeof saslMechanisms }>
  return { mechanism: saslMechanisms[mechanism], username, password }
}
