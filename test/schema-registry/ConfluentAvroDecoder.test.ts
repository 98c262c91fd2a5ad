import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { Effect, Option, Redacted, Schedule, Schema } from "effect"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { confluentAvroDecoder } from "../../src/schema-registry/ConfluentAvroDecoder.ts"
import { frame, parseFrame } from "../../src/schema-registry/ConfluentWireFormat.ts"
import { makeSchemaRegistryClient, type SchemaRegistryClient } from "../../src/schema-registry/SchemaRegistryClient.ts"

/** Avro strings are UTF-8: a lone surrogate cannot be written (producers replace it), so none is generated. */
const Text = Schema.String.check(Schema.makeFilter((s: string) => s.isWellFormed()))

const Reading = Schema.Struct({
  id: Schema.NonEmptyString.check(Schema.makeFilter((s: string) => s.isWellFormed())),
  at: Schema.Int,
  value: Schema.Finite,
  ok: Schema.Boolean,
  note: Schema.NullOr(Text)
})

const readingAvro: avro.Schema = {
  type: "record",
  name: "Reading",
  fields: [
    { name: "id", type: "string" },
    { name: "at", type: "long" },
    { name: "value", type: "double" },
    { name: "ok", type: "boolean" },
    { name: "note", type: ["null", "string"] }
  ]
}

/** A registry in memory: the decoder only sees the client interface. */
const registryOf = (schemas: Record<number, avro.Schema>): SchemaRegistryClient => ({
  schemaById: (id) =>
    Effect.succeed(
      schemas[id] === undefined
        ? Option.none()
        : Option.some({ id, schema: JSON.stringify(schemas[id]), schemaType: "AVRO" })
    ),
  register: () => Effect.die("not used")
})

const record = (value: Buffer | null, offset = 0): KafkaRecord => ({
  topic: "readings",
  partition: 0,
  offset: String(offset),
  timestamp: 0,
  key: null,
  value,
  headers: {}
})

const decodeAll = <A>(
  decoder: ReturnType<typeof confluentAvroDecoder<Schema.Decoder<A>>>,
  records: Array<KafkaRecord>
) => Effect.map(decoder.resolveSchemas(records), () => decoder.decode(records))

describe("Confluent wire format", () => {
  it("parses the header and says why a value is not a frame", () => {
    const framed = parseFrame(frame(258, Buffer.from("abc")))
    assert.deepStrictEqual(framed, { _tag: "Frame", schemaId: 258, payload: Buffer.from("abc") })
    assert.match((parseFrame(Buffer.from("{}")) as { reason: string }).reason, /magic byte is 0x7b/)
    assert.match((parseFrame(Buffer.from([0, 0, 1])) as { reason: string }).reason, /truncated .* 3 bytes/)
    assert.match((parseFrame(null) as { reason: string }).reason, /tombstone/)
  })
})

describe("confluentAvroDecoder", () => {
  it.effect.prop(
    "gives back every record an Avro producer framed, through the pipeline's Schema",
    { readings: Schema.Array(Reading) },
    ({ readings }) =>
      Effect.gen(function*() {
        const writer = avro.Type.forSchema(readingAvro)
        const decoder = confluentAvroDecoder(registryOf({ 7: readingAvro }), Reading)
        const records = readings.map((r, i) => record(frame(7, writer.toBuffer(r)), i))
        const { malformed, valid } = yield* decodeAll(decoder, records)
        assert.deepStrictEqual(malformed, [])
        // (An Avro long has no negative zero: -0 comes back as 0, as from any Avro producer.)
        assert.deepStrictEqual(valid.map((v) => ({ ...v.value })), readings.map((r) => ({ ...r, at: r.at + 0 })))
      }),
    // Avro longs are safe integers; doubles keep every finite number.
    { arbitrary: { runs: 60 } }
  )

  it.effect("resolves writer schemas against the reader's record: promoted numbers, defaults, extra fields", () =>
    Effect.gen(function*() {
      const older = {
        type: "record",
        name: "Reading",
        fields: [
          { name: "id", type: "string" },
          { name: "at", type: "int" },
          { name: "value", type: "float" },
          { name: "ok", type: "boolean" },
          { name: "extra", type: "string" }
        ]
      } as avro.Schema
      const reader = {
        ...readingAvro,
        fields: [...(readingAvro as { fields: Array<object> }).fields.slice(0, 4), {
          name: "note",
          type: ["null", "string"],
          default: null
        }]
      } as avro.Schema
      const decoder = confluentAvroDecoder(registryOf({ 3: older }), Reading, { readerSchema: reader })
      const payload = avro.Type.forSchema(older).toBuffer({ id: "a", at: 5, value: 1.5, ok: true, extra: "x" })
      const { valid } = yield* decodeAll(decoder, [record(frame(3, payload))])
      assert.deepStrictEqual(valid.map((v) => ({ ...v.value })), [{ id: "a", at: 5, value: 1.5, ok: true, note: null }])
    }))

  it.effect("dead-letters wrong magic bytes, short frames, unknown ids, bad payloads and invalid values, with reasons", () =>
    Effect.gen(function*() {
      const writer = avro.Type.forSchema(readingAvro)
      const decoder = confluentAvroDecoder(registryOf({ 7: readingAvro }), Reading)
      const good = writer.toBuffer({ id: "a", at: 1, value: 2, ok: false, note: "n" })
      const records = [
        record(Buffer.from("{\"id\":\"a\"}"), 0),
        record(Buffer.from([0, 0, 0, 7]), 1),
        record(frame(99, good), 2),
        record(frame(7, good.subarray(0, 3)), 3),
        record(frame(7, Buffer.concat([good, Buffer.from([1])])), 4),
        record(frame(7, writer.toBuffer({ id: "", at: 1, value: 2, ok: false, note: null })), 5),
        record(frame(7, good), 6)
      ]
      const { malformed, valid } = yield* decodeAll(decoder, records)
      assert.deepStrictEqual(valid.map((v) => v.record.offset), ["6"])
      const reasons = malformed.map((m) => `${m.record.offset}: ${m.error.reason}`)
      assert.strictEqual(reasons.length, 6)
      assert.match(reasons[0]!, /^0: not in the Confluent wire format: magic byte is 0x7b/)
      assert.match(reasons[1]!, /^1: truncated Confluent frame/)
      assert.match(reasons[2]!, /^2: unknown schema id 99/)
      assert.match(reasons[3]!, /^3: not Avro of schema id 7/)
      assert.match(reasons[4]!, /^4: not Avro of schema id 7: trailing data/)
      assert.match(reasons[5]!, /^5: id: /)
    }))
})

/** A registry over HTTP that answers from `handle`, counting requests per path. */
const fakeRegistry = (handle: (req: IncomingMessage, attempt: number) => { status: number; body: unknown }) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ url: string; requests: Map<string, number>; auth: Array<string | undefined> }>((resolve) => {
        const requests = new Map<string, number>()
        const auth: Array<string | undefined> = []
        const server = createServer((req, res) => {
          const n = (requests.get(req.url!) ?? 0) + 1
          requests.set(req.url!, n)
          auth.push(req.headers.authorization)
          const { body, status } = handle(req, n)
          // Slow enough that concurrent lookups overlap.
          setTimeout(() => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body)), 50)
        })
        server.listen(
          0,
          "127.0.0.1",
          () =>
            resolve(
              Object.assign({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, auth }, {
                close: () => server.close()
              })
            )
        )
      })
    ),
    (s) => Effect.sync(() => (s as unknown as { close: () => void }).close())
  )

const fast = { retry: { schedule: Schedule.spaced("20 millis") } }

describe("SchemaRegistryClient (over HTTP)", () => {
  it.live("retries an outage, shares one request between concurrent lookups, and sends basic auth", () =>
    Effect.gen(function*() {
      const server = yield* fakeRegistry((_req, attempt) =>
        attempt <= 2
          ? { status: 503, body: { error_code: 50003, message: "down" } }
          : { status: 200, body: { schema: JSON.stringify(readingAvro) } }
      )
      const client = yield* makeSchemaRegistryClient({
        url: server.url,
        credentials: { username: "u", password: Redacted.make("s3cret") },
        requestTimeoutMs: 2_000
      }, fast)
      const results = yield* Effect.all([client.schemaById(4), client.schemaById(4), client.schemaById(4)], {
        concurrency: "unbounded"
      })
      for (const r of results) assert.strictEqual(Option.getOrThrow(r).schemaType, "AVRO")
      assert.strictEqual(server.requests.get("/schemas/ids/4"), 3, "two failed attempts, then one success, shared")
      yield* client.schemaById(4)
      assert.strictEqual(server.requests.get("/schemas/ids/4"), 3, "cached")
      assert.deepStrictEqual([...new Set(server.auth)], [`Basic ${Buffer.from("u:s3cret").toString("base64")}`])
    }))

  it.live("an unknown id is None (asked again later); a refusal is permanent and not retried", () =>
    Effect.gen(function*() {
      const server = yield* fakeRegistry((req) =>
        req.url === "/schemas/ids/1"
          ? { status: 404, body: { error_code: 40403, message: "Schema not found" } }
          : { status: 401, body: { error_code: 40101, message: "Unauthorized" } }
      )
      const client = yield* makeSchemaRegistryClient({ url: server.url, requestTimeoutMs: 2_000 }, fast)
      assert.isTrue(Option.isNone(yield* client.schemaById(1)))
      assert.isTrue(Option.isNone(yield* client.schemaById(1)))
      assert.strictEqual(server.requests.get("/schemas/ids/1"), 2, "a missing id is not cached")
      const error = yield* Effect.flip(client.schemaById(2))
      assert.strictEqual(error.kind, "permanent")
      assert.match(error.message, /HTTP 401, check SCHEMA_REGISTRY_USERNAME/)
      assert.strictEqual(server.requests.get("/schemas/ids/2"), 1)
    }))
})
