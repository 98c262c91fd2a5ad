/**
 * Reading the deploy/ artifacts for tests: YAML through Python's yaml module (there is no YAML package
 * among the project's npm dependencies; Debian's python3-yaml comes with scripts/install-system-packages.sh),
 * the variable names .env.template documents, metric and label names in PromQL, and the tools that
 * validate artifacts (promtool).
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { delimiter, join } from "node:path"

export const root = join(import.meta.dirname, "..", "..")
export const deployDir = join(root, "deploy")
export const readText = (...path: Array<string>): string => readFileSync(join(root, ...path), "utf8")

/** Pythons to try, in order: Debian's (where python3-yaml installs), then whatever `python3` is. */
const pythons = ["/usr/bin/python3", "python3"]
const toJson = "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))"

let python: string | undefined
const yamlPython = (): string => {
  if (python !== undefined) return python
  for (const candidate of pythons) {
    const r = spawnSync(candidate, ["-c", "import yaml"], { encoding: "utf8" })
    if (r.status === 0) return (python = candidate)
  }
  throw new Error(
    "no python3 with the yaml module (Debian package python3-yaml): run `bash scripts/install-system-packages.sh`"
  )
}

/** Every document of a YAML file (empty documents left out), as plain JSON values. */
export const loadYaml = (...path: Array<string>): Array<unknown> => {
  const r = spawnSync(yamlPython(), ["-c", toJson], { input: readText(...path), encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${join(...path)} is not valid YAML:\n${r.stderr}`)
  return JSON.parse(r.stdout) as Array<unknown>
}

/** The variable names .env.template documents: `NAME=` lines, set or commented out (`# NAME=`). */
export const templateVariables = (): Set<string> =>
  new Set(
    readText(".env.template")
      .split("\n")
      .flatMap((line) => {
        const m = /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(line)
        return m === null ? [] : [m[1]!]
      })
  )

/** The default .env.template gives a variable (`NAME=value`, uncommented), if any. */
export const templateDefault = (name: string): string | undefined => {
  for (const line of readText(".env.template").split("\n")) {
    if (line.startsWith(`${name}=`)) return line.slice(name.length + 1).trim()
  }
  return undefined
}

/** An executable on PATH, or undefined. */
export const onPath = (command: string): string | undefined =>
  (process.env["PATH"] ?? "").split(delimiter).map((dir) => join(dir, command)).find((file) => existsSync(file))

/**
 * The metric names and label names a PromQL expression uses. Strings, ranges, Grafana variables and
 * function calls are set aside; what is left are metric names, keywords and grouping labels.
 */
export const promqlNames = (expr: string): { metrics: Set<string>; labels: Set<string> } => {
  const labels = new Set<string>()
  let s = expr.replace(/\$\{?\w+\}?/g, "0").replace(/"(?:[^"\\]|\\.)*"/g, "\"\"")
  // Label matchers: {name="...", other=~"..."}
  s = s.replace(/\{([^}]*)\}/g, (_, inner: string) => {
    for (const m of inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.add(m[1]!)
    return " "
  })
  s = s.replace(/\[[^\]]*\]/g, " ")
  // Grouping and matching label lists: by (...), without (...), on (...), ignoring (...), group_left (...)
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, list: string) => {
    for (const name of list.split(",").map((l) => l.trim()).filter((l) => l !== "")) labels.add(name)
    return " "
  })
  const keywords = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"])
  const metrics = new Set<string>()
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
    const name = m[1]!
    if (!keywords.has(name.toLowerCase())) metrics.add(name)
  }
  return { metrics, labels }
}

/** Narrows an unknown JSON value to an object (record), failing with `what` otherwise. */
export const obj = (value: unknown, what: string): Record<string, unknown> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what}: not an object`)
  return value as Record<string, unknown>
}

/** Narrows an unknown JSON value to an array (undefined → empty), failing with `what` otherwise. */
export const arr = (value: unknown, what: string): Array<unknown> => {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new Error(`${what}: not a list`)
  return value
}
