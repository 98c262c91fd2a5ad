import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "vitest"
import { startService } from "../support/ServiceProcess.ts"
import { eventually, stopService } from "./support/ObservedService.ts"

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string | undefined
  readonly name: string
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

interface ExportRequest {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: OtlpSpan["attributes"] }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<OtlpSpan> }>
  }>
}

const attribute = (attributes: OtlpSpan["attributes"], key: string) => {
  const value = attributes.find((a) => a.key === key)?.value
  return value === undefined ? undefined : Object.values(value)[0]
}

/** A minimal OTLP/HTTP JSON receiver: keeps every span posted to /v1/traces. */
const startReceiver = () =>
  new Promise<{ url: string; requests: Array<ExportRequest>; close: () => void }>((resolve) => {
    const requests: Array<ExportRequest> = []
    const server = createServer((req, res) => {
      let body = ""
      req.on("data", (chunk: Buffer) => (body += chunk.toString()))
      req.on("end", () => {
        if (req.url === "/v1/traces" && req.headers["content-type"]?.includes("application/json")) {
          requests.push(JSON.parse(body) as ExportRequest)
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({ url: `http://127.0.0.1:${port}`, requests, close: () => server.close() })
    })
  })

describe("traces over OTLP (node dist/main.js run, embedded demo)", () => {
  it(
    "one root span per batch and stage, with the stage's work as children, sent to OTEL_EXPORTER_OTLP_ENDPOINT",
    async () => {
      const receiver = await startReceiver()
      const service = startService(["run", "transactions"], {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "tributary-otlp-test",
        OTEL_BSP_SCHEDULE_DELAY: "300",
        HTTP_HOST: "127.0.0.1"
      })
      const spans = () =>
        receiver.requests.flatMap((r) => r.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)))
      try {
        // The demo's simulator sends a few malformed records: a write that dead-letters shows up soon.
        await eventually(
          "a dead-letter span arrived",
          async () => spans().some((s) => s.name === "dead-letters") || undefined,
          30_000,
          service
        )
      } finally {
        await stopService(service)
        receiver.close()
      }
      const all = spans()
      const byId = new Map(all.map((s) => [s.spanId, s]))
      const resource = receiver.requests[0]!.resourceSpans[0]!.resource
      expect(attribute(resource.attributes, "service.name")).toBe("tributary-otlp-test")

      const stages = all.filter((s) => ["prepare", "write", "apply"].includes(s.name))
      for (const name of ["prepare", "write", "apply"]) {
        const ofStage = stages.filter((s) =>
          s.name === name && attribute(s.attributes, "tributary.pipeline") === "transactions"
        )
        expect(ofStage.length, name).toBeGreaterThan(0)
        // Partition and offset ranges, e.g. transactions:2:14-16.
        expect(attribute(ofStage[0]!.attributes, "tributary.offsets"), name).toMatch(/^transactions:\d+:/)
      }
      // Stage spans are roots: one small trace per step, not one trace as long as the process.
      expect(stages.filter((s) => s.parentSpanId !== undefined && s.parentSpanId !== "")).toEqual([])

      // Work inside a write is traced under that write, in its trace.
      for (const childName of ["dead-letters", "sink"]) {
        const child = all.find((s) =>
          s.name === childName && attribute(s.attributes, "tributary.pipeline") === "transactions"
        )
        expect(child, childName).toBeDefined()
        const parent = byId.get(child!.parentSpanId ?? "")
        expect(parent?.name, childName).toBe("write")
        expect(parent?.traceId).toBe(child!.traceId)
      }
    },
    60_000
  )
})
