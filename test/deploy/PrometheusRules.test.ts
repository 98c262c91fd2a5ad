/**
 * The alert rules in deploy/prometheus/: valid for Prometheus (`promtool check rules`), firing when
 * they should and quiet when they should not (`promtool test rules` on deploy/prometheus/tests/), and
 * each one explained (summary, description, runbook). promtool is Debian's `prometheus` package
 * (scripts/install-system-packages.sh); in CI a missing promtool fails these tests.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { arr, deployDir, loadYaml, obj, onPath } from "./DeployFiles.ts"

const promDir = join(deployDir, "prometheus")
const ruleFiles = readdirSync(promDir).filter((f) => f.endsWith(".yml")).map((f) => join(promDir, f))
const ruleTests = readdirSync(join(promDir, "tests")).filter((f) => f.endsWith(".yml"))
  .map((f) => join(promDir, "tests", f))

const promtool = onPath("promtool")
const ci = process.env["CI"] === "true"
const missing = "promtool is not installed (Debian package prometheus): run `bash scripts/install-system-packages.sh`"
// Outside CI a machine without promtool skips these two with the reason; in CI they run and fail.
const withPromtool = promtool === undefined && !ci ? it.skip : it

const run = (args: ReadonlyArray<string>) => {
  if (promtool === undefined) throw new Error(missing)
  const r = spawnSync(promtool, args, { encoding: "utf8", timeout: 60_000 })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

const rules = ruleFiles.flatMap((file) =>
  loadYaml("deploy", "prometheus", file.slice(promDir.length + 1)).flatMap((doc) =>
    arr(obj(doc, file)["groups"], "groups").flatMap((g) =>
      arr(obj(g, "group")["rules"], "rules").map((r) => obj(r, "rule"))
    )
  )
)

describe("deploy/prometheus", () => {
  if (promtool === undefined && !ci) console.warn(`deploy/prometheus: ${missing}; promtool checks skipped`)

  withPromtool("passes `promtool check rules deploy/prometheus/*.yml`", () => {
    expect(ruleFiles.length).toBeGreaterThan(0)
    const r = run(["check", "rules", ...ruleFiles])
    expect(r.status, r.output).toBe(0)
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/)
  })

  withPromtool("fires each alert on the series meant for it, not on look-alikes (`promtool test rules`)", () => {
    expect(ruleTests.length).toBeGreaterThan(0)
    const r = run(["test", "rules", ...ruleTests])
    expect(r.status, r.output).toBe(0)
    expect(r.output).toMatch(/SUCCESS/)
  })

  it("covers lag, output, dead letters, late records, readiness, event-loop lag and Kafka transactions", () => {
    const exprs = rules.map((r) => String(r["expr"]))
    const uses = (metric: string) => exprs.some((e) => e.includes(metric))
    for (
      const metric of [
        "tributary_pipeline_consumer_lag",
        "tributary_records_out_total",
        "tributary_dead_letters_total",
        "tributary_late_records_total",
        "tributary_ready",
        "nodejs_eventloop_lag_p99_seconds",
        "tributary_errors_total"
      ]
    ) expect(uses(metric), metric).toBe(true)
  })

  it("gives every alert a severity, a summary, a description and a runbook line", () => {
    const alerts = rules.filter((r) => r["alert"] !== undefined)
    expect(alerts.length).toBeGreaterThanOrEqual(7)
    expect(new Set(alerts.map((r) => r["alert"])).size).toBe(alerts.length)
    for (const a of alerts) {
      const annotations = obj(a["annotations"], `${String(a["alert"])} annotations`)
      for (const key of ["summary", "description", "runbook"]) {
        expect(String(annotations[key] ?? "").trim().length, `${String(a["alert"])}: ${key}`).toBeGreaterThan(10)
      }
      expect(["warning", "critical"]).toContain(obj(a["labels"], "labels")["severity"])
    }
  })

  it("has a unit test for every alert", () => {
    const tested = new Set(
      ruleTests.flatMap((file) =>
        loadYaml("deploy", "prometheus", "tests", file.slice(join(promDir, "tests").length + 1)).flatMap((doc) =>
          arr(obj(doc, file)["tests"], "tests").flatMap((t) =>
            arr(obj(t, "test")["alert_rule_test"], "alert_rule_test").flatMap((a) => {
              const check = obj(a, "alert_rule_test")
              // Only a test that expects the alert to fire counts as covering it.
              return arr(check["exp_alerts"], "exp_alerts").length > 0 ? [String(check["alertname"])] : []
            })
          )
        )
      )
    )
    const untested = rules.filter((r) => r["alert"] !== undefined && !tested.has(String(r["alert"])))
    expect(untested.map((r) => r["alert"])).toEqual([])
  })
})
