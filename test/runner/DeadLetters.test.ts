import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { MalformedRecord } from "../../src/domain/MalformedRecord.ts"
import { DeadLetterHeaders, toDeadLetters } from "../../src/runner/DeadLetters.ts"
import { recordsOn } from "../support/KafkaRecords.ts"

const record = recordsOn("in", 2)
const settings = { policy: "dead-letter" as const, topic: Option.none<string>(), maxRecordBytes: 10_000 }
const malformed = (value: string, reason: string) => {
  const r = record(value, 7)
  return { record: r, error: new MalformedRecord({ topic: r.topic, partition: r.partition, offset: r.offset, reason }) }
}

describe("dead letters always fit", () => {
  it("keeps a small record whole, with its reason and coordinates", () => {
    const [dead] = toDeadLetters("p", settings, [malformed("{\"x\":1}", "x: Expected string")])
    assert.strictEqual(dead!.topic, "in.dlq")
    assert.strictEqual(dead!.value?.toString(), "{\"x\":1}")
    assert.strictEqual(dead!.headers?.[DeadLetterHeaders.reason], "x: Expected string")
    assert.strictEqual(dead!.headers?.[DeadLetterHeaders.offset], "7")
    assert.isUndefined(dead!.headers?.[DeadLetterHeaders.truncated])
  })

  it("cuts a long reason and says so", () => {
    const [dead] = toDeadLetters("p", settings, [malformed("{}", "y".repeat(50_000))])
    const reason = String(dead!.headers?.[DeadLetterHeaders.reason])
    assert.isAtMost(reason.length, 1_100)
    assert.include(reason, "cut from 50000 characters")
  })

  it("keeps only a prefix of a record too large to dead-letter whole, flagged with its size", () => {
    const [dead] = toDeadLetters("p", settings, [malformed("z".repeat(200_000), "too big for the sink")])
    assert.strictEqual((dead!.value as Buffer).length, 1_024)
    assert.strictEqual(dead!.headers?.[DeadLetterHeaders.truncated], "200000")
    assert.strictEqual(dead!.headers?.[DeadLetterHeaders.reason], "too big for the sink")
    assert.strictEqual(dead!.headers?.[DeadLetterHeaders.partition], "2")
  })
})
