import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Option, References } from "effect"
import { TestClock } from "effect/testing"
import { MalformedRecord } from "../../src/domain/MalformedRecord.ts"
import { DeadLetterSummary, LogSummaryInterval, reasonKind } from "../../src/observability/DeadLetterSummary.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { handleMalformed } from "../../src/runner/DeadLetters.ts"
import { recordsOn } from "../support/KafkaRecords.ts"

const record = recordsOn("in", 1)
const malformed = (offset: number, reason: string) => {
  const r = record("{", offset)
  return { record: r, error: new MalformedRecord({ topic: r.topic, partition: r.partition, offset: r.offset, reason }) }
}
const settings = { policy: "dead-letter" as const, topic: Option.none<string>(), maxRecordBytes: 10_000 }

describe("dead letters are summarised, not logged per batch", () => {
  it("a line counts by reason kind and names the first record; then it starts over", () => {
    assert.strictEqual(reasonKind("not JSON: Expected property name"), "not JSON")
    assert.strictEqual(reasonKind("rejected by the sink: value too long"), "rejected by the sink")
    const summary = new DeadLetterSummary("transactions")
    assert.isFalse(summary.due(0, 30_000), "nothing to say")
    summary.add([malformed(7, "currency: Expected a code"), malformed(8, "not JSON: x")].map((m) => m.error), {
      _tag: "DeadLetter",
      topic: "in.dlq"
    })
    summary.add([malformed(9, "not JSON: y")].map((m) => m.error), { _tag: "DeadLetter", topic: "in.dlq" })
    assert.isTrue(summary.due(1_000, 30_000), "the first line after a quiet time is due at once")
    assert.strictEqual(
      summary.take(1_000),
      "transactions: 3 malformed record(s) dead-lettered to in.dlq (not JSON ×2, currency ×1); " +
        "first: in:1@7: currency: Expected a code"
    )
    assert.isUndefined(summary.take(1_500))
    summary.add([malformed(10, "amount: Expected a positive amount")].map((m) => m.error), { _tag: "Drop" })
    assert.isFalse(summary.due(20_000, 30_000), "one line per interval")
    assert.isTrue(summary.due(31_000, 30_000))
    assert.strictEqual(
      summary.take(31_000),
      "transactions: 1 malformed record(s) dropped in the last 30s (amount ×1); first: in:1@10: amount: Expected a positive amount"
    )
  })

  it.effect("handleMalformed sends and counts every batch; the log gets one line per pipeline per interval", () => {
    const lines: Array<{ message: string; pipeline: unknown }> = []
    const logger = Logger.make(({ fiber, message }) => {
      const annotations = fiber.getRef(References.CurrentLogAnnotations)
      lines.push({ message: String(Array.isArray(message) ? message[0] : message), pipeline: annotations["pipeline"] })
    })
    return Effect.gen(function*() {
      const sent: Array<number> = []
      yield* Effect.gen(function*() {
        const stats = yield* (yield* PipelineRegistry).register("transactions")
        const send = (records: ReadonlyArray<unknown>) => Effect.sync(() => void sent.push(records.length))
        yield* TestClock.adjust("1 millis")
        // Ten batches with a malformed record each, one every second, over 10 s: an interval of 5 s.
        for (let i = 0; i < 10; i++) {
          yield* handleMalformed(
            stats,
            settings,
            [malformed(i, i % 2 === 0 ? "not JSON: x" : "user_id: Missing")],
            send
          )
          yield* TestClock.adjust("1 second")
        }
        assert.deepStrictEqual(sent, Array(10).fill(1), "every batch's dead letters are produced")
        assert.strictEqual(stats.deadLettered, 10, "and counted")
        // The first line came within a second of the first record; the next after the interval.
        const dead = lines.filter((l) => l.message.includes("malformed record(s)"))
        assert.strictEqual(dead.length, 2, JSON.stringify(lines))
        assert.match(
          dead[0]!.message,
          /^transactions: 1 malformed record\(s\) dead-lettered to in\.dlq \(not JSON ×1\)/
        )
        assert.match(dead[1]!.message, /^transactions: 5 malformed record\(s\) .* in the last 5s \(/)
        assert.deepStrictEqual(dead.map((l) => l.pipeline), ["transactions", "transactions"])
      }).pipe(Effect.provide(PipelineRegistry.layer), Effect.scoped)
      // When the registry closes (shutdown), what is left is logged.
      const dead = lines.filter((l) => l.message.includes("malformed record(s)"))
      assert.strictEqual(dead.length, 3)
      assert.strictEqual(
        dead.reduce((n, l) => n + Number(/: (\d+) malformed/.exec(l.message)![1]), 0),
        10,
        "every rejected record is in exactly one line"
      )
    }).pipe(
      Effect.provide(Logger.layer([logger])),
      Effect.provideService(LogSummaryInterval, 5_000)
    )
  })
})
