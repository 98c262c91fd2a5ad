import { assert, describe, it } from "@effect/vitest"
import { type MessageRecord, produceV11 } from "@platformatic/kafka"
import { Schema } from "effect"
import { type ProduceOptions, produceRequestEncoder } from "../../src/kafka/ProduceRequest.ts"

/**
 * The one-buffer encoder against the client's own `createRequest` (Produce v11; v9 and v10 write the
 * same request): byte for byte the same request for any records and options.
 */

const Bytes = Schema.NullOr(Schema.String)
const Record_ = Schema.Struct({
  topic: Schema.Literals(["fg_1_onlinefs", "payment-alerts", "7", "b"]),
  partition: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 })),
  key: Bytes,
  value: Bytes,
  /** 0: no headers, 1: the writer's shared headers, 2: headers of its own, 3: an empty map */
  headers: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  /** Within 2^30 ms of the case's base: the client's varlong is right below 2^31 (see the last test). */
  timestamp: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 30 }))
})
const Options = Schema.Struct({
  acks: Schema.Literals([-1, 0, 1]),
  timeout: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 31 - 1 })),
  transactionalId: Schema.NullOr(Schema.String),
  producerId: Schema.NullOr(Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 2 ** 50 }))),
  producerEpoch: Schema.NullOr(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32767 }))),
  sequences: Schema.Boolean,
  repeat: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 400 })),
  base: Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 45), maximum: 2 ** 45 }))
})

const shared = new Map([
  [Buffer.from("projectId"), Buffer.from("119")],
  [Buffer.from("featureGroupId"), Buffer.from("13")],
  [Buffer.from("subjectId"), Buffer.from("21")],
  [Buffer.from("version"), Buffer.from("1")]
])
const headersFor = (kind: number, i: number): Map<Buffer, Buffer> | undefined =>
  kind === 0
    ? undefined
    : kind === 1
    ? new Map(shared) // the client builds a new map per record, with the same buffers
    : kind === 2
    ? new Map([[Buffer.from(`h${i}`), Buffer.from("é".repeat(i % 70))], [Buffer.from(""), Buffer.alloc(0)]])
    : new Map()

const toMessages = (records: ReadonlyArray<typeof Record_.Type>, repeat: number, base = 0): Array<MessageRecord> =>
  records.map((r, i) => {
    const m: MessageRecord = {
      topic: r.topic,
      partition: r.partition,
      value: r.value === null ? null! : Buffer.from(r.value.repeat(repeat), "utf8"),
      timestamp: BigInt(base + r.timestamp)
    }
    if (r.key !== null) m.key = Buffer.from(r.key, "utf8")
    const headers = headersFor(r.headers, i)
    if (headers !== undefined) m.headers = headers
    return m
  })

const optionsOf = (o: typeof Options.Type): ProduceOptions => ({
  transactionalId: o.transactionalId,
  ...(o.producerId === null ? {} : { producerId: BigInt(o.producerId) }),
  ...(o.producerEpoch === null ? {} : { producerEpoch: o.producerEpoch }),
  ...(o.sequences ? { sequences: { getWithDefault: (key: string) => key.length * 7919 } } : {})
})

const clientRequest = (o: typeof Options.Type, messages: Array<MessageRecord>): Buffer =>
  produceV11.createRequest(o.acks, o.timeout, messages, optionsOf(o) as never).buffer

describe("produceRequestEncoder", () => {
  const encode = produceRequestEncoder()

  it.prop(
    "any records and options: byte for byte the client's request",
    { records: Schema.NonEmptyArray(Record_), options: Options },
    ({ options, records }) => {
      const messages = () => toMessages(records, options.repeat, options.base)
      const ours = encode(options.acks, options.timeout, messages(), optionsOf(options))
      assert.deepStrictEqual(ours.buffer, clientRequest(options, messages()))
      assert.strictEqual(ours.context.noResponse === true, options.acks === 0)
    }
  )

  it("a request larger than the scratch buffers, then a small one: both the client's bytes", () => {
    const options = {
      acks: -1,
      timeout: 30_000,
      transactionalId: "fingerprint.4f1c",
      producerId: 4001,
      producerEpoch: 3,
      sequences: true,
      repeat: 1,
      base: 0
    } as const
    const big = Array.from({ length: 3_000 }, (_, i) => ({
      topic: i % 3 === 0 ? "fg_1_onlinefs" as const : "b" as const,
      partition: i % 5,
      key: `user_${i}`,
      value: "x".repeat(200 + (i % 300)),
      headers: 1,
      timestamp: 1_706_123_400_000 + i
    }))
    for (const records of [big, big.slice(0, 2)]) {
      const ours = encode(options.acks, options.timeout, toMessages(records, 1), optionsOf(options))
      assert.deepStrictEqual(ours.buffer, clientRequest(options, toMessages(records, 1)))
    }
  })

  // The client's own varlong is wrong from 2^31 on (it zigzags with `>> 31n` and stops at 32 bits), so
  // deltas of 25 days or more are checked by a plain decoder of the record batch instead.
  it("timestamp deltas of 64 bits: the record batch reads back the timestamps (Kafka's varlong)", () => {
    for (
      const stamps of [[0n, 2n ** 62n], [2n ** 62n, -(2n ** 62n)], [2n ** 50n, 2n ** 50n + 1n, 1n], [-(2n ** 55n), 0n]]
    ) {
      const messages = stamps.map((timestamp) => ({ topic: "b", partition: 1, value: Buffer.from("v"), timestamp }))
      const request = encode(1, 0, messages, {}).buffer
      assert.deepStrictEqual(readTimestamps(request), stamps)
    }
  })
})

/** The record timestamps of a one-topic, one-partition Produce v9+ request, read by the protocol's definition. */
const readTimestamps = (b: Buffer): Array<bigint> => {
  let at = 0
  const unsignedVarLong = (): bigint => {
    let value = 0n
    for (let shift = 0n;; shift += 7n) {
      const byte = b[at++]!
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
    }
  }
  const varLong = () => {
    const z = unsignedVarLong()
    return (z >> 1n) ^ -(z & 1n)
  }
  const skipCompactString = () => {
    const lengthPlusOne = Number(unsignedVarLong()) // 0 for null
    at += Math.max(0, lengthPlusOne - 1)
  }
  skipCompactString() // transactional id
  at += 2 + 4 // acks, timeout
  unsignedVarLong() // topics
  skipCompactString() // topic name
  unsignedVarLong() // partitions
  at += 4 // partition index
  unsignedVarLong() // records size
  const batch = at
  const firstTimestamp = b.readBigInt64BE(batch + 27)
  const count = b.readInt32BE(batch + 57)
  at = batch + 61
  const out: Array<bigint> = []
  for (let i = 0; i < count; i++) {
    const length = Number(varLong())
    const end = at + length // (the length is read before \`at\` is)
    at += 1 // attributes
    out.push(firstTimestamp + varLong())
    at = end
  }
  return out
}
