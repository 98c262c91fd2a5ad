import { describe, expect, it } from "vitest"
import { metricValue, parsePrometheus } from "../observability/PrometheusText.ts"
import {
  eventually,
  freePort,
  getText,
  startObservedService,
  stopService
} from "../observability/support/ObservedService.ts"
import type { RunningService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, uniqueName } from "../support/TestKafka.ts"

interface ReadyBody {
  readonly status: string
  readonly reasons: ReadonlyArray<string>
  readonly pipelines: ReadonlyArray<{ readonly name: string; readonly state: string }>
}

const readyz = async (url: string) => {
  const r = await getText(`${url}/readyz`)
  return { status: r.status, body: JSON.parse(r.body) as ReadyBody }
}

describe("probes of the real process (node dist/main.js run)", () => {
  it("the HTTP server answers before Kafka does: alive, and ready = startup", async () => {
    const metricsPort = await freePort()
    const url = `http://127.0.0.1:${metricsPort}`
    // Nothing listens there: the service keeps trying to reach Kafka for as long as the test looks.
    const service = startObservedService(["run", "transactions"], {
      KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${await freePort()}`,
      METRICS_PORT: String(metricsPort),
      HTTP_HOST: "127.0.0.1"
    })
    try {
      const health = await eventually(
        "/healthz answers",
        async () => {
          const r = await getText(`${url}/healthz`)
          return r.status === 200 ? JSON.parse(r.body) as { status: string; state: string } : undefined
        },
        20_000,
        service
      )
      expect(health).toMatchObject({ status: "alive", state: "starting" })
      const ready = await readyz(url)
      expect(ready.status).toBe(503)
      expect(ready.body.status).toBe("startup")
      // Runtime metrics are there from the start too.
      const metrics = parsePrometheus((await getText(`${url}/metrics`)).body)
      expect(metricValue(metrics, "nodejs_eventloop_lag_p99_seconds", {})).toBeGreaterThanOrEqual(0)
      // Still starting a few seconds later, and still alive: a slow broker never fails liveness.
      await new Promise((r) => setTimeout(r, 3_000))
      expect((await getText(`${url}/healthz`)).status).toBe(200)
      expect((await readyz(url)).body.status).toBe("startup")
      expect(service.child.exitCode).toBeNull()
    } finally {
      await stopService(service)
    }
    // The client's connection errors (two per attempt) are announced once, then kept for the periodic summary.
    const output = service.output()
    expect(output).not.toMatch(/ERROR/)
    expect(output.match(/WARN .*Kafka client: Connection error/g), output).toHaveLength(1)
  }, 60_000)

  it("with more members than partitions the extra one is ready but idle; /metrics has runtime metrics", async () => {
    const env = {
      KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
      KAFKA_TOPIC: uniqueName("probes-one-partition"),
      KAFKA_GROUP_ID: uniqueName("probes-group"),
      KAFKA_TOPIC_PARTITIONS: "1",
      HTTP_HOST: "127.0.0.1",
      LAG_POLL_INTERVAL_MS: "1000",
      LOG_LEVEL: "Warn"
    }
    const ports = [await freePort(), await freePort()]
    const services: Array<RunningService> = []
    try {
      for (const port of ports) {
        services.push(startObservedService(["run", "transactions"], { ...env, METRICS_PORT: String(port) }))
      }
      const states = await eventually(
        "both answer ready, one consuming and one idle",
        async () => {
          const answers = await Promise.all(ports.map((p) => readyz(`http://127.0.0.1:${p}`)))
          const statuses = answers.map((a) => a.body.status).sort()
          return answers.every((a) => a.status === 200) && statuses.join() === "idle,ready" ? answers : undefined
        },
        60_000,
        services[0]
      )
      const idle = states.find((s) => s.body.status === "idle")!
      expect(idle.body.pipelines).toEqual([expect.objectContaining({ name: "transactions", state: "idle" })])
      expect(idle.body.reasons).toEqual([])

      const url = `http://127.0.0.1:${ports[0]}`
      const samples = await eventually("a GC pause is on /metrics", async () => {
        const s = parsePrometheus((await getText(`${url}/metrics`)).body)
        return s.some((x) => x.name === "nodejs_gc_duration_seconds_count") ? s : undefined
      }, 20_000)
      for (
        const name of [
          "process_resident_memory_bytes",
          "process_cpu_seconds_total",
          "nodejs_heap_size_used_bytes",
          "nodejs_heap_size_limit_bytes",
          "nodejs_active_resources_total"
        ]
      ) {
        expect(metricValue(samples, name, {}), name).toBeGreaterThan(0)
      }
      expect(metricValue(samples, "nodejs_eventloop_lag_p50_seconds", {})).toBeGreaterThanOrEqual(0)
      expect(metricValue(samples, "nodejs_eventloop_lag_p99_seconds", {})).toBeLessThan(1)
      expect(metricValue(samples, "nodejs_heap_size_used_bytes", {})).toBeLessThan(
        metricValue(samples, "nodejs_heap_size_limit_bytes", {})!
      )
    } finally {
      await Promise.all(services.map((s) => stopService(s)))
    }
  }, 120_000)
})
