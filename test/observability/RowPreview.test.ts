import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { PipelineStats } from "../../src/observability/PipelineStats.ts"
import { hasMaskedCardNumber, maskCardNumbers, previewRow } from "../../src/observability/RowPreview.ts"

describe("card numbers in row previews", () => {
  it("masks 12 to 19 digits, alone, grouped or inside text, keeping the last four", () => {
    assert.strictEqual(maskCardNumbers("4111111111111111"), "************1111")
    assert.strictEqual(maskCardNumbers("4111 1111 1111 1111"), "**** **** **** 1111")
    assert.strictEqual(maskCardNumbers("5500-0000-0000-0004"), "****-****-****-0004")
    assert.strictEqual(maskCardNumbers("123456789012"), "********9012", "12 digits")
    assert.strictEqual(maskCardNumbers("1234567890123456789"), "***************6789", "19 digits")
    assert.strictEqual(
      maskCardNumbers("paid with 4000056655665556, then 378282246310005."),
      "paid with ************5556, then ***********0005."
    )
    assert.strictEqual(maskCardNumbers("ref-4111111111111111"), "ref-************1111")
    assert.strictEqual(maskCardNumbers("-4111111111111111"), "-************1111")
  })

  it("leaves what is not a card number: short or long digit runs, ids, UUIDs, dates, decimals", () => {
    for (
      const text of [
        "12345678901", // 11 digits
        "12345678901234567890", // 20 digits
        "tx000123456789012", // part of an id
        "user_123456789012",
        "550e8400-e29b-41d4-a716-446655440000",
        "9b2c1d4e-0000-4000-8000-123456789012",
        "2026-01-01T12:00:00.000Z",
        "1234567890123.45"
      ]
    ) assert.strictEqual(maskCardNumbers(text), text)
  })

  it("previewRow masks numbers, strings, bigints, bytes and nested keys in any column; times stay times", () => {
    const row = previewRow({
      cc_num: 4111111111111111,
      card: "4111-1111-1111-1111",
      big: 6011000990139424n,
      bytes: new TextEncoder().encode("card 5105105105105100"),
      metadata: { note: "call me", nested: { pan: "371449635398431" }, "4242424242424242": 1 },
      list: [4012888888881881, "x"],
      event_time: 1_767_225_600_000,
      window_start: 1_767_225_600_000n,
      createdAt: 1_767_225_600_000,
      amount: 12.5,
      count: 3,
      user_id: "u-17",
      date: new Date(Date.UTC(2026, 0, 1))
    })
    assert.deepStrictEqual(row, {
      cc_num: "************1111",
      card: "****-****-****-1111",
      big: "************9424",
      bytes: "card ************5100",
      metadata: { note: "call me", nested: { pan: "***********8431" }, "************4242": 1 },
      list: ["************1881", "x"],
      event_time: 1_767_225_600_000,
      window_start: 1_767_225_600_000,
      createdAt: 1_767_225_600_000,
      amount: 12.5,
      count: 3,
      user_id: "u-17",
      date: "2026-01-01T00:00:00.000Z"
    })
    // A 13-digit number in a column that is not a time is a possible card number.
    assert.deepStrictEqual(previewRow({ account: 1_767_225_600_000 }), { account: "*********0000" })
    // The whole preview never carries the digits.
    const json = JSON.stringify(row)
    for (const pan of ["411111111111", "601100099013", "510510510510", "37144963539", "424242424242", "401288888888"]) {
      assert.notInclude(json, pan)
    }
  })

  it("previewRow cuts deep, long and big values (a hostile record cannot blow up the status)", () => {
    let deep: unknown = "bottom"
    for (let i = 0; i < 10_000; i++) deep = { d: deep }
    const row = previewRow({ deep, long: "x".repeat(100_000), many: Array.from({ length: 10_000 }, (_, i) => i) })
    assert.isBelow(JSON.stringify(row).length, 2_000)
    assert.strictEqual((row["many"] as Array<unknown>).length, 21)
  })

  it.effect("chart keys that look like card numbers are masked where they are counted (so /metrics never has them)", () =>
    Effect.gen(function*() {
      const stats = new PipelineStats("p", yield* Clock.Clock)
      yield* stats.tallyAll(
        "per card",
        ["4111111111111111", "4111111111111111", "5500 0000 0000 0004", "visa"],
        (k) => k
      )
      yield* stats.tally("per card", "4111111111111111")
      assert.deepStrictEqual([...stats.tallies.get("per card")!], [
        ["************1111", 3],
        ["**** **** **** 0004", 1],
        ["visa", 1]
      ])
      assert.isTrue(hasMaskedCardNumber("************1111"))
      assert.isTrue(hasMaskedCardNumber("**** **** **** 0004"))
      assert.isFalse(hasMaskedCardNumber("visa"))
      assert.isFalse(hasMaskedCardNumber("2026-01-01"))
    }))
})
