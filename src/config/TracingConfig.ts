import { Config, Option, Redacted, Schema } from "effect"
import { booleanAnyCase, literalsAnyCase } from "./AnyCase.ts"

/** Where and how spans are exported (OTLP over HTTP), named as OpenTelemetry's own SDKs name them. */
export interface TracingSettings {
  /** The full URL spans are posted to (`<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces` unless given directly). */
  readonly tracesUrl: string
  readonly serviceName: string
  readonly protocol: "http/protobuf" | "http/json"
  /** Sent with every export; often an API key, so never logged. */
  readonly headers: Redacted.Redacted<Record<string, string>>
  readonly exportIntervalMs: number
}

/** `key=value,key2=value2` (values URL-encoded, as the OpenTelemetry specification has it). */
const parseHeaders = (text: string): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=")
    if (at <= 0) continue
    headers[pair.slice(0, at).trim().toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim())
  }
  return headers
}

const nonEmpty = (name: string) =>
  Config.option(Config.String(name)).pipe(Config.map(Option.filter((s) => s.trim() !== "")))

/**
 * Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and
 * OTEL_SDK_DISABLED is not true; None otherwise (spans stay in process, nothing is sent).
 */
export const tracingSettings: Config.Config<Option.Option<TracingSettings>> = Config.all({
  disabled: booleanAnyCase("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  endpoint: nonEmpty("OTEL_EXPORTER_OTLP_ENDPOINT"),
  tracesEndpoint: nonEmpty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  serviceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("tributary")),
  // Both are what OTLP/HTTP collectors accept; gRPC is not supported here.
  protocol: literalsAnyCase(["http/protobuf", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
    Config.withDefault<TracingSettings["protocol"]>("http/protobuf")
  ),
  headers: Config.Redacted("OTEL_EXPORTER_OTLP_HEADERS").pipe(Config.withDefault(Redacted.make(""))),
  exportIntervalMs: Config.schema(Schema.Int.check(Schema.isGreaterThan(0)), "OTEL_BSP_SCHEDULE_DELAY").pipe(
    Config.withDefault(5_000)
  )
}).pipe(Config.map(({ disabled, endpoint, headers, tracesEndpoint, ...rest }): Option.Option<TracingSettings> => {
  if (disabled) return Option.none()
  const tracesUrl = Option.orElse(
    tracesEndpoint,
    () => Option.map(endpoint, (base) => `${base.trim().replace(/\/+$/, "")}/v1/traces`)
  )
  return Option.map(tracesUrl, (url) => ({
    ...rest,
    tracesUrl: url.trim(),
    headers: Redacted.make(parseHeaders(Redacted.value(headers)), { label: "OTEL_EXPORTER_OTLP_HEADERS" })
  }))
}))
