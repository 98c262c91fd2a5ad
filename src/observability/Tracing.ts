import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Redacted } from "effect"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { type TracingSettings, tracingSettings } from "../config/TracingConfig.ts"

/**
 * Exports the spans Effect already makes (`Effect.fn`, `Effect.withSpan`: one per batch and runner
 * stage, see PipelineRunner) over OTLP/HTTP, in JSON or protobuf. Spans are batched and posted every
 * `exportIntervalMs`; the last batch is flushed when the process stops.
 */
export const tracingLayer = (settings: TracingSettings) =>
  OtlpTracer.layer({
    url: settings.tracesUrl,
    resource: { serviceName: settings.serviceName },
    headers: Redacted.value(settings.headers),
    exportInterval: `${settings.exportIntervalMs} millis`
  }).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** Tracing as configured by the OTEL_* variables; nothing (in-process spans only) without an endpoint. */
export const tracingFromConfig = Layer.unwrap(
  Effect.map(tracingSettings, Option.match({ onNone: () => Layer.empty, onSome: tracingLayer }))
)
