import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { describeIssue } from "../../src/domain/MalformedRecord.ts"
import { jsonBatchDecoder } from "../../src/runner/BatchDecoder.ts"
import { recordsOn } from "../support/KafkaRecords.ts"

const record = recordsOn("in", 1)

describe("malformed input", () => {
  it("names the field, also in nested paths", () => {
    assert.strictEqual(
      describeIssue({ message: "Expected string\n  at [\"data\"][\"0001\"]" }),
      "data.0001: Expected string"
    )
    assert.strictEqual(
      describeIssue({ message: "Expected an integer\n  at [\"event_time\"]" }),
      "event_time: Expected an integer"
    )
    assert.strictEqual(describeIssue({ message: "Expected object" }), "Expected object")
  })

  it("splits a batch into valid values and malformed records with reasons, each record exactly once", () => {
    const decode = jsonBatchDecoder(
      Schema.Struct({ id: Schema.String, data: Schema.Record(Schema.String, Schema.String) })
    )
    const { malformed, valid } = decode([
      record("{\"id\":\"a\",\"data\":{\"x\":\"1\"}}", 0),
      record("{\"id\":\"b\",\"data\":{\"x\":1}}", 1),
      record("not json", 2),
      record(null, 3),
      record("{\"data\":{}}", 4)
    ])
    assert.deepStrictEqual(valid.map((v) => v.value.id), ["a"])
    assert.deepStrictEqual(malformed.map((m) => [m.error.offset, m.error.reason]), [
      ["1", "data.x: Expected string"],
      ["2", malformed[1]!.error.reason],
      ["3", "empty value (tombstone)"],
      ["4", "id: Missing key"]
    ])
    assert.match(malformed[1]!.error.reason, /^not JSON/)
    assert.strictEqual(malformed[0]!.error.partition, 1)
  })

  it("dead-letters bytes that are not UTF-8 instead of decoding them with replacement characters", () => {
    const decode = jsonBatchDecoder(Schema.Struct({ id: Schema.String }))
    // Two ids that differ only in invalid bytes would both decode to "a\ufffd" and collide as one key.
    const invalid = (byte: number) => ({
      ...record("", 0),
      value: Buffer.concat([Buffer.from("{\"id\":\"a"), Buffer.from([byte]), Buffer.from("\"}")])
    })
    const { malformed, valid } = decode([invalid(0xff), invalid(0xfe), record("{\"id\":\"\u00e9\"}", 2)])
    assert.deepStrictEqual(valid.map((v) => v.value.id), ["\u00e9"])
    assert.deepStrictEqual(malformed.map((m) => m.error.reason), [
      "value is not valid UTF-8",
      "value is not valid UTF-8"
    ])
  })
})
