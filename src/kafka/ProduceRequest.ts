/**
 * Produce requests (versions 9–11) written straight into one buffer, for @platformatic/kafka's
 * producers. The client builds every record from small chunks (a fresh buffer per varint, four
 * chunks per header) and joins them twice (for the CRC and for the socket): about half of the
 * transactions pipeline's CPU per record. Here a record batch is written field by field into one
 * reused scratch buffer, and a record's header block, the same on every record of a writer, is
 * encoded once and copied. The bytes are the client's own (property-tested against its
 * `createRequest`); everything else (metadata, partitions, sequences, retries) stays the client's.
 */
import { crc32c } from "@node-rs/crc32"
import {
  type API,
  type CallbackWithPromise,
  kGetApi,
  type MessageRecord,
  Producer,
  produceV10,
  produceV11,
  produceV9,
  Writer
} from "@platformatic/kafka"

/** What the client passes a Produce request besides its records (see its `prepareRecordsBatch`). */
export interface ProduceOptions {
  readonly transactionalId?: string | null | undefined
  readonly compression?: string | undefined
  readonly producerId?: bigint | undefined
  readonly producerEpoch?: number | undefined
  readonly partitionLeaderEpoch?: number | undefined
  readonly sequences?: { getWithDefault(key: string, fallback: number): number } | undefined
}

const IS_TRANSACTIONAL = 1 << 4
const NO_RESPONSE = 0

/** A growable byte buffer written front to back. */
class ByteWriter {
  buffer = Buffer.allocUnsafe(64 * 1024)
  position = 0

  ensure(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.position + bytes))
    this.buffer.copy(grown, 0, 0, this.position)
    this.buffer = grown
  }
  int8(v: number): void {
    this.buffer[this.position++] = v & 0xff
  }
  int16(v: number): void {
    this.buffer.writeInt16BE(v, this.position)
    this.position += 2
  }
  int32(v: number): void {
    this.buffer.writeInt32BE(v, this.position)
    this.position += 4
  }
  int64(v: bigint): void {
    this.buffer.writeBigInt64BE(v, this.position)
    this.position += 8
  }
  unsignedVarInt(v: number): void {
    while (v > 0x7f) {
      this.buffer[this.position++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    this.buffer[this.position++] = v
  }
  /** A zigzag varint of a 32-bit signed integer. */
  varInt(v: number): void {
    this.unsignedVarInt(((v << 1) ^ (v >> 31)) >>> 0)
  }
  /** A zigzag varint of a 64-bit signed integer (plain arithmetic while it is below 2^51). */
  varLong(v: bigint | number): void {
    if (typeof v === "number") {
      let z = v >= 0 ? v * 2 : -v * 2 - 1
      while (z > 0x7f) {
        this.buffer[this.position++] = (z % 128) | 0x80
        z = Math.floor(z / 128)
      }
      this.buffer[this.position++] = z
      return
    }
    let z = v >= 0n ? v << 1n : (-v << 1n) - 1n
    while (z > 0x7fn) {
      this.buffer[this.position++] = Number(z & 0x7fn) | 0x80
      z >>= 7n
    }
    this.buffer[this.position++] = Number(z)
  }
  bytes(b: Buffer): void {
    b.copy(this.buffer, this.position)
    this.position += b.length
  }
  /** Kafka's record bytes: a zigzag varint length (-1 for null), then the bytes. */
  varIntBytes(b: Buffer | null | undefined): void {
    if (b === null || b === undefined) return this.varInt(-1)
    this.varInt(b.length)
    this.bytes(b)
  }
  /** A compact (flexible-version) string: length + 1, then UTF-8; 0 for null. */
  compactString(s: string | null | undefined): void {
    if (s === null || s === undefined) return this.unsignedVarInt(0)
    const b = Buffer.from(s, "utf8")
    this.ensure(b.length + 5)
    this.unsignedVarInt(b.length + 1)
    this.bytes(b)
  }
}

const varIntSize = (v: number): number => {
  let z = ((v << 1) ^ (v >> 31)) >>> 0
  let n = 1
  while (z > 0x7f) {
    z >>>= 7
    n++
  }
  return n
}

const varIntBytesSize = (b: Buffer | null | undefined): number =>
  b === null || b === undefined ? 1 : varIntSize(b.length) + b.length

const varLongSize = (v: bigint | number): number => {
  if (typeof v === "number") {
    let z = v >= 0 ? v * 2 : -v * 2 - 1
    let n = 1
    while (z > 0x7f) {
      z = Math.floor(z / 128)
      n++
    }
    return n
  }
  let z = v >= 0n ? v << 1n : (-v << 1n) - 1n
  let n = 1
  while (z > 0x7fn) {
    z >>= 7n
    n++
  }
  return n
}

/** A record's header block (count, then key and value of each), cached while the headers stay the same buffers. */
const headerEncoder = () => {
  let keys: Array<Buffer> = []
  let values: Array<Buffer | null> = []
  let encoded = Buffer.from([0])
  const sameAsCached = (headers: Map<Buffer, Buffer>): boolean => {
    if (headers.size !== keys.length) return false
    let i = 0
    for (const [k, v] of headers) {
      if (k !== keys[i] || v !== values[i]) return false
      i++
    }
    return true
  }
  return (headers: Map<Buffer, Buffer> | undefined): Buffer => {
    if (headers === undefined || headers.size === 0) return EMPTY_HEADERS
    if (sameAsCached(headers)) return encoded
    const w = new ByteWriter()
    w.varInt(headers.size)
    for (const [k, v] of headers) {
      w.ensure(10 + k.length + (v?.length ?? 0))
      w.varIntBytes(k)
      w.varIntBytes(v)
    }
    keys = [...headers.keys()]
    values = [...headers.values()]
    encoded = Buffer.from(w.buffer.subarray(0, w.position))
    return encoded
  }
}
const EMPTY_HEADERS = Buffer.from([0])

/** Records grouped by a property, in the order the client's `groupByProperty` gives (integer-like keys first). */
const groupBy = <K extends "topic" | "partition">(
  messages: ReadonlyArray<MessageRecord>,
  property: K
): Array<Array<MessageRecord>> => {
  const buckets: Record<string, Array<MessageRecord>> = Object.create(null)
  for (const m of messages) (buckets[String(m[property])] ??= []).push(m)
  return Object.values(buckets)
}

/** Writes one partition's record batch (magic 2, uncompressed) at the writer's position. */
const writeRecordBatch = (
  w: ByteWriter,
  messages: ReadonlyArray<MessageRecord>,
  options: ProduceOptions,
  headersOf: (h: Map<Buffer, Buffer> | undefined) => Buffer
): void => {
  const first = messages[0]!
  const firstTimestamp = first.timestamp!
  let maxTimestamp = firstTimestamp
  for (const m of messages) if (m.timestamp! > maxTimestamp) maxTimestamp = m.timestamp!
  const start = w.position
  w.ensure(61)
  w.int64(0n) // base offset
  w.position += 4 // batch length, below
  w.int32(options.partitionLeaderEpoch ?? 0)
  w.int8(2) // magic
  w.position += 4 // CRC, below
  const crcFrom = w.position
  w.int16(options.transactionalId ? IS_TRANSACTIONAL : 0)
  w.int32(messages.length - 1) // last offset delta
  w.int64(firstTimestamp)
  w.int64(maxTimestamp)
  w.int64(options.producerId ?? -1n)
  w.int16(options.producerEpoch ?? 0)
  w.int32(options.sequences?.getWithDefault(`${first.topic}:${first.partition}`, 0) ?? 0)
  w.int32(messages.length)
  // Timestamps are milliseconds: their deltas are exact as numbers unless someone sends extreme ones.
  const firstMs = Number(firstTimestamp)
  const small = Math.abs(firstMs) < 2 ** 50
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!
    const t = Number(m.timestamp!)
    const delta = small && Math.abs(t) < 2 ** 50 ? t - firstMs : m.timestamp! - firstTimestamp
    const headers = headersOf(m.headers)
    const key = m.key
    const value = m.value
    const bodySize = 1 + varLongSize(delta) + varIntSize(i) +
      varIntBytesSize(key) + varIntBytesSize(value) +
      headers.length
    w.ensure(bodySize + 5)
    w.varInt(bodySize)
    w.int8(0) // attributes
    w.varLong(delta)
    w.varInt(i)
    w.varIntBytes(key)
    w.varIntBytes(value)
    w.bytes(headers)
  }
  w.buffer.writeInt32BE(w.position - start - 12, start + 8)
  w.buffer.writeUInt32BE(crc32c(w.buffer.subarray(crcFrom, w.position)), crcFrom - 4)
}

/**
 * `createRequest` of Produce v9–v11 (their requests are the same), one buffer for the whole request.
 * Normalises the messages as the client's does (partition 0, timestamp now when missing).
 */
export const produceRequestEncoder = () => {
  const scratch = new ByteWriter()
  const batch = new ByteWriter()
  const headersOf = headerEncoder()
  return (
    acks: number | undefined,
    timeout: number | undefined,
    messages: Array<MessageRecord>,
    options: ProduceOptions = {}
  ): Writer => {
    // A record without a timestamp gets the time it is produced (CreateTime), as the client's does.
    const now = BigInt(Date.now())
    for (const m of messages) {
      if (m.partition === undefined) m.partition = 0
      if (m.timestamp === undefined) m.timestamp = now
      else if (typeof m.timestamp === "number") m.timestamp = BigInt(m.timestamp)
    }
    const w = scratch
    w.position = 0
    w.compactString(options.transactionalId)
    w.ensure(16)
    w.int16(acks ?? 1)
    w.int32(timeout ?? 0)
    const topics = groupBy(messages, "topic")
    w.unsignedVarInt(topics.length + 1)
    for (const topicMessages of topics) {
      w.compactString(topicMessages[0]!.topic)
      const partitions = groupBy(topicMessages, "partition")
      w.ensure(5)
      w.unsignedVarInt(partitions.length + 1)
      for (const partitionMessages of partitions) {
        batch.position = 0
        writeRecordBatch(batch, partitionMessages, options, headersOf)
        w.ensure(batch.position + 16)
        w.int32(partitionMessages[0]!.partition!)
        w.unsignedVarInt(batch.position + 1)
        batch.buffer.copy(w.buffer, w.position, 0, batch.position)
        w.position += batch.position
        w.int8(0) // the partition's tagged fields
      }
      w.ensure(2)
      w.int8(0) // the topic's tagged fields
    }
    w.ensure(1)
    w.int8(0) // the request's tagged fields
    const request = Writer.create().append(Buffer.from(w.buffer.subarray(0, w.position)))
    if (acks === NO_RESPONSE) request.context.noResponse = true
    return request
  }
}

type ProduceResponse = ReturnType<typeof produceV11.parseResponse>
type ProduceApi = API<[number | undefined, number | undefined, Array<MessageRecord>, ProduceOptions?], ProduceResponse>
const clientVersions: Record<number, { parseResponse: unknown }> = {
  9: produceV9,
  10: produceV10,
  11: produceV11
}

/** The client's Produce API of `version` with this module's request encoder (compressed sends keep the client's). */
const withOwnEncoder = (api: ProduceApi): ProduceApi => {
  const client = clientVersions[api.version]
  if (client === undefined) return api
  const encode = produceRequestEncoder()
  const own = function(connection: Parameters<ProduceApi>[0], ...args: Array<unknown>) {
    const callback = typeof args[args.length - 1] === "function"
      ? args.pop() as CallbackWithPromise<ProduceResponse>
      : () => undefined
    const [acks, timeout, messages, options] = args as Parameters<typeof encode>
    const compressed = options?.compression !== undefined && options.compression !== "none"
    if (compressed) return api(connection, acks, timeout, messages, options, callback)
    connection.send(
      api.key,
      api.version,
      () => encode(acks, timeout, messages, options),
      client.parseResponse as never,
      true,
      true,
      callback
    )
  } as ProduceApi
  Object.assign(own, { key: api.key, version: api.version })
  return own
}

/** A @platformatic/kafka producer whose Produce requests are written by `produceRequestEncoder`. */
export class OneBufferProducer extends Producer<Buffer, Buffer, Buffer, Buffer> {
  /** By version: one encoder (and its scratch buffers) per producer. */
  readonly #produceApis = new Map<number, ProduceApi>()

  override [kGetApi]<A extends Array<unknown>, R>(
    name: string,
    callback: (error: Error | null, api?: API<A, R>) => void
  ) {
    if (name !== "Produce") return super[kGetApi](name, callback as never)
    super[kGetApi]<A, R>(name, (error, api) => {
      if (error !== null || api === undefined) return callback(error, api)
      const clientApi = api as unknown as ProduceApi
      let own = this.#produceApis.get(clientApi.version)
      if (own === undefined) this.#produceApis.set(clientApi.version, own = withOwnEncoder(clientApi))
      callback(null, own as unknown as API<A, R>)
    })
  }
}
