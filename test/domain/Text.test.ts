import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { EcommerceTransaction } from "../../src/domain/EcommerceTransaction.ts"
import { describeIssue } from "../../src/domain/MalformedRecord.ts"
import { SensorMessage } from "../../src/domain/SensorReading.ts"
import { NonEmptyText, Text } from "../../src/domain/Text.ts"
import { UserEvent } from "../../src/domain/UserEvent.ts"

const reason = (schema: Schema.Decoder<unknown>, input: unknown): string | undefined => {
  const result = Schema.decodeUnknownResult(schema)(input)
  return Result.isFailure(result) ? describeIssue(result.failure) : undefined
}

describe("text with no UTF-8 form (lone UTF-16 surrogates) is refused, never stored as U+FFFD", () => {
  it("Text and NonEmptyText", () => {
    assert.isUndefined(reason(Text, "Grüße, 日本, 🎉, NUL \u0000 inside"))
    assert.include(reason(Text, "a\ud800"), "lone UTF-16 surrogates")
    assert.include(reason(Text, "\udc00b"), "lone UTF-16 surrogates")
    assert.isDefined(reason(NonEmptyText, ""))
    assert.include(reason(NonEmptyText, "\ud800"), "lone UTF-16 surrogates")
  })

  it("names the field in each pipeline's schema, map keys included", () => {
    const event = {
      event_id: "6f1c2a44-3b7e-4c1d-9a55-0c2f4e8b9d11",
      user_id: "6f1c2a44-3b7e-4c1d-9a55-0c2f4e8b9d12",
      event_type: "click",
      event_time: 0
    }
    assert.isUndefined(reason(UserEvent, event))
    assert.match(reason(UserEvent, { ...event, event_type: "click\ud800" }) ?? "", /^event_type: .*surrogate/)
    assert.match(reason(UserEvent, { ...event, metadata: { page: "\udc00" } }) ?? "", /^metadata: .*surrogate/)
    assert.match(reason(UserEvent, { ...event, metadata: { "\ud800": "x" } }) ?? "", /^metadata: .*surrogate/)

    const sensor = { equip_id: "kiln-1", timestamp: 0, data: { "0001": "1.5" } }
    assert.isUndefined(reason(SensorMessage, sensor))
    assert.isDefined(reason(SensorMessage, { ...sensor, equip_id: "kiln\ud800" }))
    assert.match(reason(SensorMessage, { ...sensor, data: { "\ud800": "1" } }) ?? "", /^data: .*surrogate/)

    const sale = {
      transactionId: "3c9e7f1a-52b4-4d8e-9f0a-000000000001",
      productId: "p",
      productName: "n",
      productCategory: "c",
      productPrice: 1,
      productQuantity: 1,
      totalAmount: 1,
      productBrand: "b",
      currency: "usd",
      customerId: "c",
      transactionDate: "2024-05-01T12:00:00Z",
      paymentMethod: "card",
      paymentStatus: "ok"
    }
    assert.isUndefined(reason(EcommerceTransaction, sale))
    assert.match(reason(EcommerceTransaction, { ...sale, productName: "\ud800" }) ?? "", /^productName: .*surrogate/)
  })
})
