import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { serviceSettings } from "../../src/config/ServiceConfig.ts"
import { tracingSettings } from "../../src/config/TracingConfig.ts"
import { settingsFrom } from "../support/TestSettings.ts"

describe("service settings", () => {
  it("the default shutdown grace ends before Kubernetes' 30 s termination grace", () => {
    // Was 30 s, equal to the kubelet's deadline: the SIGKILL could come before the service gave up cleanly.
    const { shutdownGraceMs } = settingsFrom(serviceSettings)
    assert.strictEqual(shutdownGraceMs, 25_000)
    assert.isBelow(shutdownGraceMs, 30_000)
    assert.strictEqual(settingsFrom(serviceSettings, { SHUTDOWN_GRACE_MS: 5_000 }).shutdownGraceMs, 5_000)
  })

  it("summary lines come every LOG_SUMMARY_INTERVAL_SECONDS (30 by default)", () => {
    assert.strictEqual(settingsFrom(serviceSettings).logSummaryIntervalMs, 30_000)
    assert.strictEqual(settingsFrom(serviceSettings, { LOG_SUMMARY_INTERVAL_SECONDS: "0.5" }).logSummaryIntervalMs, 500)
    assert.throws(
      () => settingsFrom(serviceSettings, { LOG_SUMMARY_INTERVAL_SECONDS: 0 }),
      /LOG_SUMMARY_INTERVAL_SECONDS/
    )
  })
})

/** Tracing settings from exactly `env` (an Option: read directly, settingsFrom copies objects field by field). */
const tracingFrom = (env: Record<string, string> = {}) =>
  Effect.runSync(tracingSettings.parse(ConfigProvider.fromEnv({ env })))

describe("tracing settings (OTEL_*)", () => {
  it("off without an endpoint, or when disabled", () => {
    assert.isTrue(Option.isNone(tracingFrom()))
    assert.isTrue(
      Option.isNone(
        tracingFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "TRUE" })
      )
    )
  })

  it("traces go to <endpoint>/v1/traces unless the traces endpoint is given; headers stay redacted", () => {
    const on = Option.getOrThrow(tracingFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/",
      OTEL_SERVICE_NAME: "fraud-features",
      OTEL_EXPORTER_OTLP_PROTOCOL: "HTTP/JSON",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=s3cr%3Dt,X-Tenant = a"
    }))
    assert.strictEqual(on.tracesUrl, "http://collector:4318/v1/traces")
    assert.strictEqual(on.serviceName, "fraud-features")
    assert.strictEqual(on.protocol, "http/json")
    assert.deepStrictEqual(Redacted.value(on.headers), { "api-key": "s3cr=t", "x-tenant": "a" })
    assert.notInclude(String(on.headers), "s3cr")
    const direct = Option.getOrThrow(tracingFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/otlp"
    }))
    assert.strictEqual(direct.tracesUrl, "https://traces.example/otlp")
    assert.strictEqual(direct.protocol, "http/protobuf")
  })
})
