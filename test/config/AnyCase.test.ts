import { assert, describe, it } from "@effect/vitest"
import { kafkaSettings } from "../../src/config/KafkaConfig.ts"
import { serviceSettings } from "../../src/config/ServiceConfig.ts"
import { settingsFrom } from "../support/TestSettings.ts"

describe("environment values in any letter case", () => {
  it("levels, choices and booleans are read whatever their case", () => {
    assert.strictEqual(settingsFrom(serviceSettings, { LOG_LEVEL: "info" }).logLevel, "Info")
    assert.strictEqual(settingsFrom(serviceSettings, { LOG_LEVEL: " DEBUG " }).logLevel, "Debug")
    assert.strictEqual(settingsFrom(serviceSettings, { LOG_FORMAT: "JSON" }).logFormat, "json")
    assert.strictEqual(settingsFrom(kafkaSettings, { KAFKA_CLIENT: "KafkaJS" }).client, "kafkajs")
    const ssl = (value: string) =>
      settingsFrom(kafkaSettings, { KAFKA_SSL: value, KAFKA_BOOTSTRAP_SERVERS: "b:9092" }).ssl
    assert.isTrue(ssl("TRUE")._tag === "Some")
    assert.isTrue(ssl("False")._tag === "None")
  })

  it("an unknown value still stops start-up naming the variable and what it accepts", () => {
    assert.throws(() => settingsFrom(serviceSettings, { LOG_LEVEL: "verbose" }), /LOG_LEVEL.*"Info"/)
    assert.throws(() => settingsFrom(kafkaSettings, { KAFKA_SSL: "maybe" }), /KAFKA_SSL/)
  })
})
