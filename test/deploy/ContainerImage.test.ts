/**
 * deploy/Dockerfile, .dockerignore and the compose service, checked without a Docker engine (there is
 * none here): the Dockerfile's stages and final image as written, and the final image's contents laid
 * out on disk the way its COPY lines lay them out (dist/, package.json, and only the lock file's
 * production packages), started as the image starts it, and answered by the image's own HEALTHCHECK
 * command. What this cannot show is that `docker build` itself succeeds.
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { eventually, freePort, getText } from "../observability/support/ObservedService.ts"
import { startProcess } from "../support/ServiceProcess.ts"
import { arr, loadYaml, obj, readText, root, templateVariables } from "./DeployFiles.ts"

interface Instruction {
  readonly keyword: string
  readonly args: string
}
interface Stage {
  readonly from: string
  readonly name: string | undefined
  readonly instructions: Array<Instruction>
}

/** The Dockerfile as stages of instructions (comments dropped, `\` continuations joined). */
const parseDockerfile = (text: string): { args: Map<string, string>; stages: Array<Stage> } => {
  const lines = text.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n").replace(/\\\n/g, " ")
  const args = new Map<string, string>()
  const stages: Array<Stage> = []
  for (const line of lines.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    const [, keyword = "", rest = ""] = /^(\w+)\s+(.*)$/.exec(line) ?? []
    const k = keyword.toUpperCase()
    if (k === "FROM") {
      const [image = "", , name] = rest.split(/\s+/)
      stages.push({ from: image, name, instructions: [] })
    } else if (stages.length === 0 && k === "ARG") {
      const [name = "", value = ""] = rest.split("=")
      args.set(name, value)
    } else stages.at(-1)!.instructions.push({ keyword: k, args: rest.replace(/\s+/g, " ") })
  }
  return { args, stages }
}

const dockerfile = parseDockerfile(readText("deploy", "Dockerfile"))
const final = dockerfile.stages.at(-1)!
const stageNamed = (name: string) => dockerfile.stages.find((s) => s.name === name)
const all = (stage: Stage | undefined, keyword: string) =>
  (stage?.instructions ?? []).filter((i) => i.keyword === keyword).map((i) => i.args)
const execForm = (args: string): Array<string> => JSON.parse(args) as Array<string>

/** `.dockerignore` as a matcher: Docker's patterns (`*`, `**`, `!` exceptions), last match wins. */
const dockerignore = (text: string) => {
  const rules = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
    const negated = l.startsWith("!")
    const pattern = (negated ? l.slice(1) : l).replace(/^\/+|\/+$/g, "")
    const source = pattern.split("/").map((part) =>
      part === "**" ? ".*" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")
    ).join("/")
    return { negated, regex: new RegExp(`^${source}$`) }
  })
  // A path is excluded when it or one of its parent folders is.
  return (path: string): boolean => {
    const parts = path.split("/")
    return parts.some((_, i) => {
      const prefix = parts.slice(0, i + 1).join("/")
      let excluded = false
      for (const r of rules) if (r.regex.test(prefix)) excluded = !r.negated
      return excluded
    })
  }
}
const ignored = dockerignore(readText(".dockerignore"))

describe("deploy/Dockerfile", () => {
  it("builds on Node 24 in three stages: compile with dev dependencies, install production ones, run", () => {
    const base = dockerfile.args.get("NODE_IMAGE")
    expect(base).toMatch(/^node:24-/)
    for (const s of dockerfile.stages) expect([base, "${NODE_IMAGE}"]).toContain(s.from)
    expect(all(stageNamed("build"), "RUN").join("\n")).toMatch(/npm ci(?!.*--omit=dev)[\s\S]*npm run build/)
    expect(all(stageNamed("deps"), "RUN").join("\n")).toMatch(/npm ci .*--omit=dev/)
    expect(final.name).toBeUndefined()
  })

  it("ships only dist/, production node_modules and package.json, as a non-root user, with node dist/main.js", () => {
    expect(all(final, "COPY").sort()).toEqual([
      "--from=build /app/dist ./dist",
      "--from=deps /app/node_modules ./node_modules",
      "package.json ./"
    ])
    expect(all(final, "RUN")).toEqual([])
    const [user] = all(final, "USER")
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/)
    expect(execForm(all(final, "ENTRYPOINT")[0]!)).toEqual(["node", "dist/main.js"])
    expect(all(final, "ENV").join(" ")).toMatch(/HTTP_HOST=0\.0\.0\.0/)
  })

  it("copies only files that exist and that .dockerignore lets into the build context", () => {
    const sources = dockerfile.stages.flatMap((s) =>
      all(s, "COPY").filter((a) => !a.startsWith("--from")).flatMap((a) => a.split(" ").slice(0, -1))
    )
    expect(sources).toContain("src")
    for (const source of sources) {
      expect(existsSync(join(root, source)), `${source} exists`).toBe(true)
      expect(ignored(source), `${source} is not in .dockerignore`).toBe(false)
    }
    for (const path of ["node_modules", "dist", ".env", ".git", ".it", "test-artifacts", "node_modules/effect"]) {
      expect(ignored(path), `${path} stays out of the context`).toBe(true)
    }
  })

  describe("the final image's contents, started as the image starts them", () => {
    const image = mkdtempSync(join(tmpdir(), "tributary-image-"))
    afterAll(() => rmSync(image, { recursive: true, force: true }))

    it(
      "run the embedded demo with production packages only; the HEALTHCHECK and /readyz answer; SIGTERM exits 0",
      async () => {
        // COPY --from=build /app/dist ./dist, and package.json.
        cpSync(join(root, "dist"), join(image, "dist"), { recursive: true })
        cpSync(join(root, "package.json"), join(image, "package.json"))
        // COPY --from=deps /app/node_modules: what `npm ci --omit=dev` installs, i.e. the lock file's
        // packages not marked dev (top-level ones linked; their own dependencies resolve inside them).
        const lock = JSON.parse(readText("package-lock.json")) as {
          packages: Record<string, { dev?: boolean; devOptional?: boolean }>
        }
        const production = Object.entries(lock.packages)
          .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && p.dev !== true)
          .map(([path]) => path)
        expect(production).toContain("node_modules/effect")
        expect(production).not.toContain("node_modules/vitest")
        for (const path of production) {
          mkdirSync(dirname(join(image, path)), { recursive: true })
          symlinkSync(join(root, path), join(image, path), "dir")
        }

        const env: Record<string, string> = {}
        for (const e of all(final, "ENV").join(" ").split(" ")) {
          const [k, v] = e.split("=")
          if (k !== undefined && v !== undefined) env[k] = v
        }
        const port = await freePort()
        env["METRICS_PORT"] = String(port)
        const healthcheck = execForm(/^(?:--\S+ )*CMD (.*)$/.exec(all(final, "HEALTHCHECK")[0]!)![1]!)
        expect(healthcheck[0]).toBe("node")
        const probe = () =>
          spawnSync(process.execPath, healthcheck.slice(1), {
            cwd: image,
            env: { PATH: process.env["PATH"] ?? "", METRICS_PORT: String(port) },
            timeout: 10_000
          }).status

        expect(probe(), "the health check fails while nothing listens").not.toBe(0)
        const service = startProcess(join(image, "dist", "main.js"), ["run", "transactions"], env)
        try {
          await eventually(
            "the image's HEALTHCHECK passes",
            async () => (probe() === 0 ? true : undefined),
            45_000,
            service
          )
          await eventually(
            "/readyz answers 200",
            async () => {
              const r = await getText(`http://127.0.0.1:${port}/readyz`)
              return r.status === 200 ? r : undefined
            },
            45_000,
            service
          )
          const metrics = await getText(`http://127.0.0.1:${port}/metrics`)
          expect(metrics.body).toMatch(/tributary_records_in_total\{pipeline="transactions"\} [1-9]/)
          // ENV LOG_FORMAT=json: every line the service writes is a JSON object.
          const lines = service.output().split("\n").filter((l) => l.trim() !== "")
          expect(lines.length).toBeGreaterThan(0)
          for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow()
        } finally {
          service.child.kill("SIGTERM")
        }
        expect(await service.exited).toBe(0)
      },
      120_000
    )
  })
})

describe("docker-compose.yml", () => {
  const compose = obj(loadYaml("docker-compose.yml")[0], "compose")
  const services = obj(compose["services"], "services")
  const app = obj(services["tributary"], "tributary service")

  it("builds the service from deploy/Dockerfile behind the app profile", () => {
    expect(app["profiles"]).toEqual(["app"])
    expect(obj(app["build"], "build")).toMatchObject({ context: ".", dockerfile: "deploy/Dockerfile" })
    const known = templateVariables()
    const names = Object.keys(obj(app["environment"], "environment"))
    expect(names.filter((n) => !known.has(n))).toEqual([])
    for (const [name, s] of Object.entries(services)) {
      if (obj(s, name)["profiles"] === undefined) continue
      expect(arr(obj(s, name)["profiles"], "profiles"), `${name} only with --profile app`).toEqual(["app"])
    }
  })

  it("gives every dependency a health check, and starts the service once they are healthy", () => {
    const dependencies = Object.keys(services).filter((n) => obj(services[n], n)["profiles"] === undefined)
    expect(dependencies.sort()).toEqual(["cassandra", "kafka", "opensearch", "postgres"])
    const waitedFor = new Set<string>()
    const visit = (name: string) => {
      for (const [dep, how] of Object.entries(obj(obj(services[name], name)["depends_on"] ?? {}, "depends_on"))) {
        const condition = obj(how, dep)["condition"]
        expect(["service_healthy", "service_completed_successfully"]).toContain(condition)
        waitedFor.add(dep)
        visit(dep)
      }
    }
    visit("tributary")
    for (const d of dependencies) {
      const check = obj(obj(services[d], d)["healthcheck"], `${d} healthcheck`)
      expect(arr(check["test"], "test").length, d).toBeGreaterThan(0)
      expect(waitedFor.has(d), `tributary waits for ${d}`).toBe(true)
    }
  })

  it("lets the service stop within its grace", () => {
    const grace = Number(obj(app["environment"], "environment")["SHUTDOWN_GRACE_MS"])
    const stop = Number(/^(\d+)s$/.exec(String(app["stop_grace_period"]))?.[1])
    expect(stop * 1000).toBeGreaterThan(grace)
  })
})
