/**
 * The Kubernetes manifests in deploy/kubernetes/, checked without a cluster: every variable a pod gets
 * is one the service reads (.env.template), probes hit the real endpoints on the metrics port, static
 * membership takes the pod name, shutdown fits in the termination grace, and the objects point at each
 * other (selectors, serviceName, ConfigMap, Secret keys).
 */
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { arr, deployDir, loadYaml, obj, readText, templateDefault, templateVariables } from "./DeployFiles.ts"

type Json = Record<string, unknown>

const pipelines = ["transactions", "card-aggregates", "ecommerce", "fingerprint", "user-events"]

const dir = join(deployDir, "kubernetes")
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"))
const docs = files.flatMap((f) => loadYaml("deploy", "kubernetes", f).map((d) => ({ file: f, doc: obj(d, f) })))
const ofKind = (kind: string) => docs.filter((d) => d.doc["kind"] === kind)
const nameOf = (d: Json) => String(obj(d["metadata"], "metadata")["name"])

const statefulSets = ofKind("StatefulSet")
const configMap = obj(ofKind("ConfigMap").find((d) => nameOf(d.doc) === "tributary-config")?.doc, "ConfigMap")
const configData = obj(configMap["data"], "ConfigMap data")
const secret = obj(ofKind("Secret").find((d) => nameOf(d.doc) === "tributary-secrets")?.doc, "Secret")
const secretKeys = new Set(Object.keys(obj(secret["stringData"], "Secret stringData")))

const podSpec = (sts: Json) => obj(obj(obj(sts["spec"], "spec")["template"], "template")["spec"], "pod spec")
const containersOf = (sts: Json) =>
  [
    ...arr(podSpec(sts)["initContainers"], "initContainers"),
    ...arr(podSpec(sts)["containers"], "containers")
  ].map((c) => obj(c, "container"))
const mainContainer = (sts: Json) => obj(arr(podSpec(sts)["containers"], "containers")[0], "container")
const envOf = (c: Json) => arr(c["env"], "env").map((e) => obj(e, "env entry"))

/** What a container's variable resolves to: a literal value, or where it comes from. */
const envValue = (c: Json, name: string): string | undefined => {
  const e = envOf(c).find((x) => x["name"] === name)
  if (e !== undefined) return e["value"] === undefined ? undefined : String(e["value"])
  const fromConfig = arr(c["envFrom"], "envFrom").some((f) => obj(f, "envFrom")["configMapRef"] !== undefined)
  return fromConfig && name in configData ? String(configData[name]) : undefined
}

describe("deploy/kubernetes", () => {
  it("has one StatefulSet per pipeline, each running `run <pipeline>`", () => {
    const ran = statefulSets.map(({ doc }) => {
      const args = arr(mainContainer(doc)["args"], "args").map(String)
      expect(args[0]).toBe("run")
      expect(args).toHaveLength(2)
      return args[1]
    })
    expect(ran.sort()).toEqual([...pipelines].sort())
  })

  it("gives every pod only variables .env.template documents, from the ConfigMap, the Secret or the pod spec", () => {
    const known = templateVariables()
    expect(known.size).toBeGreaterThan(50)
    expect(Object.keys(configData).filter((k) => !known.has(k))).toEqual([])
    expect([...secretKeys].filter((k) => !known.has(k))).toEqual([])
    for (const { doc } of statefulSets) {
      for (const c of containersOf(doc)) {
        const names = envOf(c).map((e) => String(e["name"]))
        expect(names.filter((n) => !known.has(n)), `${nameOf(doc)}/${String(c["name"])}`).toEqual([])
        expect(new Set(names).size, `${nameOf(doc)}: a variable set twice`).toBe(names.length)
        for (const f of arr(c["envFrom"], "envFrom").map((x) => obj(x, "envFrom"))) {
          expect(obj(f["configMapRef"], "configMapRef")["name"]).toBe(nameOf(configMap))
        }
      }
    }
  })

  it("takes secrets from the Secret by keys the example has, and never as plain values", () => {
    const secretNames = ["HOPSWORKS_API_KEY", "KAFKA_SASL_PASSWORD", "DATABASE_URL", "CASSANDRA_PASSWORD"]
    for (const { doc } of statefulSets) {
      for (const c of containersOf(doc)) {
        for (const e of envOf(c)) {
          const ref = (e["valueFrom"] as Json | undefined)?.["secretKeyRef"] as Json | undefined
          if (secretNames.includes(String(e["name"]))) expect(ref, `${String(e["name"])} from a Secret`).toBeDefined()
          if (ref === undefined) continue
          expect(ref["name"]).toBe(nameOf(secret))
          expect(secretKeys.has(String(ref["key"])), `key ${String(ref["key"])} in the example`).toBe(true)
          expect(ref["key"]).toBe(e["name"])
        }
      }
    }
    for (const name of secretNames) expect(configData).not.toHaveProperty(name)
    const uses = (pipeline: string, name: string) =>
      envOf(mainContainer(statefulSets.find(({ doc }) => nameOf(doc) === `tributary-${pipeline}`)!.doc))
        .some((e) => e["name"] === name)
    expect(uses("transactions", "HOPSWORKS_API_KEY")).toBe(true)
    expect(uses("card-aggregates", "HOPSWORKS_API_KEY")).toBe(true)
    expect(uses("ecommerce", "DATABASE_URL")).toBe(true)
    expect(uses("user-events", "CASSANDRA_PASSWORD")).toBe(true)
    for (const p of pipelines) expect(uses(p, "KAFKA_SASL_PASSWORD"), p).toBe(true)
  })

  it("sets KAFKA_GROUP_INSTANCE_ID from the pod name, with the client that does static membership", () => {
    for (const { doc } of statefulSets) {
      const c = mainContainer(doc)
      const e = envOf(c).find((x) => x["name"] === "KAFKA_GROUP_INSTANCE_ID")
      expect(e, nameOf(doc)).toBeDefined()
      expect(obj(obj(e!["valueFrom"], "valueFrom")["fieldRef"], "fieldRef")["fieldPath"]).toBe("metadata.name")
      expect(envValue(c, "KAFKA_CLIENT") ?? templateDefault("KAFKA_CLIENT")).toBe("platformatic")
    }
  })

  it("probes /healthz for liveness and start-up and /readyz for readiness, on the port the service listens on", () => {
    for (const { doc } of statefulSets) {
      const c = mainContainer(doc)
      const port = arr(c["ports"], "ports").map((p) => obj(p, "port")).find((p) => p["name"] === "metrics")
      expect(port, nameOf(doc)).toBeDefined()
      const metricsPort = envValue(c, "METRICS_PORT") ?? templateDefault("METRICS_PORT")
      expect(String(port!["containerPort"])).toBe(metricsPort)
      const host = envValue(c, "HTTP_HOST") ?? templateDefault("HTTP_HOST")
      expect(host, "probes reach the pod IP only when the server binds every interface").toBe("0.0.0.0")
      const probe = (which: string) => obj(obj(c[which], which)["httpGet"], `${which}.httpGet`)
      expect(probe("livenessProbe")).toMatchObject({ path: "/healthz", port: "metrics" })
      expect(probe("startupProbe")).toMatchObject({ path: "/healthz", port: "metrics" })
      expect(probe("readinessProbe")).toMatchObject({ path: "/readyz", port: "metrics" })
    }
  })

  it("lets a stopping pod finish its batch: SHUTDOWN_GRACE_MS is below terminationGracePeriodSeconds", () => {
    for (const { doc } of statefulSets) {
      const grace = Number(podSpec(doc)["terminationGracePeriodSeconds"])
      const shutdown = Number(envValue(mainContainer(doc), "SHUTDOWN_GRACE_MS") ?? templateDefault("SHUTDOWN_GRACE_MS"))
      expect(grace).toBe(35)
      expect(shutdown).toBeGreaterThan(0)
      // Some seconds between the service's own deadline and the kubelet's SIGKILL.
      expect(grace * 1000 - shutdown, nameOf(doc)).toBeGreaterThanOrEqual(5_000)
    }
  })

  it("runs non-root with resources and at least one replica", () => {
    for (const { doc } of statefulSets) {
      const spec = obj(doc["spec"], "spec")
      const pipeline = String(arr(mainContainer(doc)["args"], "args")[1])
      expect(Number(spec["replicas"]), pipeline).toBeGreaterThanOrEqual(1)
      expect(obj(podSpec(doc)["securityContext"], "securityContext")).toMatchObject({ runAsNonRoot: true })
      for (const c of containersOf(doc)) {
        const resources = obj(c["resources"], "resources")
        expect(obj(resources["requests"], "requests")).toHaveProperty("memory")
        expect(obj(resources["limits"], "limits")).toHaveProperty("memory")
        expect(obj(c["securityContext"], "container securityContext")).toMatchObject({
          allowPrivilegeEscalation: false
        })
      }
    }
  })

  it("wires Services, PodDisruptionBudgets and selectors to each StatefulSet's pods", () => {
    const services = ofKind("Service").map((d) => d.doc)
    const budgets = ofKind("PodDisruptionBudget").map((d) => d.doc)
    for (const { doc, file } of statefulSets) {
      const spec = obj(doc["spec"], "spec")
      const podLabels = obj(obj(obj(spec["template"], "template")["metadata"], "metadata")["labels"], "labels")
      const matches = (selector: unknown) =>
        Object.entries(obj(selector, "selector")).every(([k, v]) => podLabels[k] === v)
      expect(matches(obj(spec["selector"], "selector")["matchLabels"]), nameOf(doc)).toBe(true)
      const service = services.find((s) => nameOf(s) === spec["serviceName"])
      expect(service, `${file}: serviceName`).toBeDefined()
      const serviceSpec = obj(service!["spec"], "Service spec")
      expect(matches(serviceSpec["selector"])).toBe(true)
      expect(arr(serviceSpec["ports"], "ports").map((p) => obj(p, "port")["targetPort"])).toContain("metrics")
      const budget = budgets.find((b) => matches(obj(obj(b["spec"], "spec")["selector"], "selector")["matchLabels"]))
      expect(budget, `${file}: PodDisruptionBudget`).toBeDefined()
      // A budget that allows no eviction would block node drains for good with one replica.
      expect(obj(budget!["spec"], "spec")["maxUnavailable"]).toBe(1)
    }
  })

  it("lists every manifest but the Secret example in kustomization.yaml", () => {
    const kustomization = obj(loadYaml("deploy", "kubernetes", "kustomization.yaml")[0], "kustomization")
    const resources = arr(kustomization["resources"], "resources").map(String).sort()
    const expected = files.filter((f) => f !== "kustomization.yaml" && f !== "secret.example.yaml").sort()
    expect(resources).toEqual(expected)
    expect(readText("deploy", "kubernetes", "secret.example.yaml")).toMatch(/kubectl create secret/)
  })
})
