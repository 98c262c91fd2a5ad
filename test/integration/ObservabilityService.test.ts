import { assert, describe, it } from "@effect/vitest"
import { metricValue, parsePrometheus } from "../observability/PrometheusText.ts"
import {
  eventually,
  freePort,
  getText,
  startObservedService,
  stopService
} from "../observability/support/ObservedService.ts"

const secret = "obs-s3cr3t-password-value"
const dashboardToken = "obs-dashboard-t0ken-value"
const withToken = { authorization: `Bearer ${dashboardToken}` }

describe("metrics and logs of a real run (embedded demo as a child process)", () => {
  it(
    "counts on /metrics match the records in and out; JSON logs summarise dead letters per pipeline; no secret anywhere",
    async () => {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      const service = startObservedService(["run", "transactions"], {
        METRICS_PORT: String(port),
        HTTP_HOST: "127.0.0.1",
        LOG_FORMAT: "json",
        // Parsed (and unused by the in-memory demo): a secret must never reach a log line or an endpoint.
        KAFKA_SASL_MECHANISM: "plain",
        KAFKA_SASL_USERNAME: "demo",
        KAFKA_SASL_PASSWORD: secret,
        HOPSWORKS_API_KEY: secret,
        // Guards the dashboard and /api (never /metrics or the probes); a secret like the others.
        DASHBOARD_TOKEN: dashboardToken,
        LOG_SUMMARY_INTERVAL_SECONDS: "2"
      })
      try {
        // Scrape during the run until one scrape falls between batches: then every record consumed is
        // either written or dead-lettered (the transactions pipeline is stateless).
        const sample = await eventually(
          "a scrape where in = out + dead letters",
          async () => {
            const samples = parsePrometheus((await getText(`${url}/metrics`)).body)
            const one = { pipeline: "transactions" }
            const recordsIn = metricValue(samples, "tributary_records_in_total", one) ?? 0
            const recordsOut = metricValue(samples, "tributary_records_out_total", one) ?? 0
            const dead = metricValue(samples, "tributary_dead_letters_total", { ...one, policy: "dead-letter" }) ?? 0
            return recordsIn >= 100 && dead > 0 && recordsIn === recordsOut + dead
              ? { recordsIn, recordsOut, dead, samples }
              : undefined
          },
          45_000,
          service
        )
        assert.isAbove(sample.recordsOut, 0)
        assert.isAbove(metricValue(sample.samples, "tributary_records_in_per_second", { pipeline: "transactions" })!, 0)
        assert.strictEqual(
          metricValue(sample.samples, "tributary_assigned_partitions", { pipeline: "transactions" }),
          3
        )
        // The feature rows the materializer applied never exceed what the pipeline reports as written.
        const online = metricValue(sample.samples, "tributary_online_table_rows", { feature_group: "transactions_1" })
        assert.isAtMost(online ?? 0, sample.recordsOut)

        // The status JSON agrees with the counters (it can only be ahead: the run goes on).
        assert.strictEqual((await getText(`${url}/api/status`)).status, 401, "the API needs the token")
        const status = JSON.parse((await getText(`${url}/api/status`, withToken)).body) as {
          pipelines: Array<{ name: string; recordsIn: number; recordsOut: number; deadLettered: number }>
        }
        const p = status.pipelines.find((x) => x.name === "transactions")!
        assert.isAtLeast(p.recordsIn, sample.recordsIn)
        assert.isAtLeast(p.recordsOut, sample.recordsOut)
        assert.isAtLeast(p.deadLettered, sample.dead)

        const endpoints = await Promise.all(
          ["/", "/metrics", "/api/status", "/readyz", "/healthz"].map((path) => getText(`${url}${path}`, withToken))
        )
        for (const e of endpoints) {
          assert.notInclude(e.body, secret)
          assert.notInclude(e.body, dashboardToken)
        }
      } finally {
        await stopService(service)
      }

      // Every line the service wrote is one JSON object; the dead-letter warnings name pipeline, partition, offset.
      const output = service.output()
      assert.notInclude(output, secret)
      assert.notInclude(output, dashboardToken)
      const lines = output.split("\n").filter((l) => l.trim() !== "")
      const logs = lines.map((l) => {
        try {
          return JSON.parse(l) as { message: unknown; level: string; annotations: Record<string, unknown> }
        } catch {
          throw new Error(`not a JSON log line: ${l}`)
        }
      })
      // Since issue 19 dead letters are summarised: one line per pipeline per LOG_SUMMARY_INTERVAL_SECONDS
      // (here 2), with counts by reason and the first example's partition and offset in the message,
      // instead of a warning (annotated with partition and offset) per batch.
      const deadLetterLogs = logs.filter((l) => String(l.message).includes("malformed record(s) dead-lettered to"))
      assert.isAbove(deadLetterLogs.length, 0)
      for (const l of deadLetterLogs) {
        assert.strictEqual(l.annotations["pipeline"], "transactions")
        assert.strictEqual(l.level, "WARN")
        assert.match(String(l.message), /\(.+ ×\d+.*\); first: transactions:\d+@\d+: \S/)
      }
      const times = deadLetterLogs.map((l) => Date.parse(String((l as { timestamp?: unknown }).timestamp)))
      for (let i = 1; i < times.length; i++) {
        assert.isAtLeast(times[i]! - times[i - 1]!, 1_900, "at most one per interval")
      }
      assert.isTrue(logs.some((l) => String(l.message).includes("observability: dashboard")))
    },
    90_000
  )
})
