import { assert, describe, it } from "@effect/vitest"
import { exceeds, onlineSchemaProblem, onlineTypeOf, stringLimitOf } from "../../src/hopsworks/OnlineTypes.ts"

describe("OnlineTypes", () => {
  it("a string feature is varchar(100) online unless it names another column; other types keep theirs", () => {
    assert.strictEqual(onlineTypeOf({ type: "string" }), "varchar(100)")
    assert.strictEqual(onlineTypeOf({ type: "STRING", onlineType: " VARCHAR(1000) " }), "varchar(1000)")
    assert.strictEqual(onlineTypeOf({ type: "boolean" }), "tinyint")
    assert.strictEqual(onlineTypeOf({ type: "bigint" }), "bigint")
    assert.deepStrictEqual(stringLimitOf({ type: "string" }), {
      max: 100,
      unit: "characters",
      onlineType: "varchar(100)"
    })
    assert.deepStrictEqual(stringLimitOf({ type: "string", onlineType: "text" }), {
      max: 65_535,
      unit: "bytes",
      onlineType: "text"
    })
    assert.isUndefined(stringLimitOf({ type: "bigint" }))
    assert.isUndefined(stringLimitOf({ type: "array<string>" }))
  })

  it("varchar counts characters (code points), not UTF-16 units or bytes; text counts UTF-8 bytes", () => {
    const limit = stringLimitOf({ type: "string", onlineType: "varchar(3)" })!
    assert.isUndefined(exceeds(limit, "abc"))
    assert.isUndefined(exceeds(limit, "é€😀")) // 3 characters, 4 UTF-16 units, 9 bytes
    assert.strictEqual(exceeds(limit, "abcd"), 4)
    assert.strictEqual(exceeds(limit, "😀😀😀😀"), 4)
    const text = stringLimitOf({ type: "string", onlineType: "text" })!
    assert.isUndefined(exceeds(text, "€".repeat(21_845))) // 65,535 bytes
    assert.strictEqual(exceeds(text, "€".repeat(21_846)), 65_538)
  })

  it("the server's create-time rules: compatible types, key types, key and row size", () => {
    const f = (name: string, type: string, onlineType?: string, primary = false) => ({
      name,
      type,
      primary,
      ...(onlineType === undefined ? {} : { onlineType })
    })
    assert.isUndefined(onlineSchemaProblem([f("id", "string", undefined, true), f("n", "bigint")]))
    assert.isUndefined(onlineSchemaProblem([f("id", "bigint", undefined, true), f("s", "string", "varchar(5000)")]))
    assert.include(onlineSchemaProblem([f("s", "string", "int")]), "online type int does not go with type string")
    assert.include(onlineSchemaProblem([f("x", "double", undefined, true)]), "cannot be a key")
    assert.include(onlineSchemaProblem([f("k", "string", "varchar(1001)", true)]), "primary key would take")
    assert.include(onlineSchemaProblem([f("s", "string", "varchar(7600)")]), "a row would take about 30400 bytes")
    assert.include(onlineSchemaProblem([f("s", "string", "varchar(0)")]), "holds nothing")
  })
})
