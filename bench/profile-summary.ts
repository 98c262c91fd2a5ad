/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by SELF time, and self time by
 * package/area (effect, kafkajs, avsc, Tributary src, node internals, GC, idle).
 *
 *   node bench/profile-summary.ts <file.cpuprofile> [top=25] [fromUs toUs]
 */
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly hitCount?: number
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface FunctionSelfTime {
  readonly name: string
  readonly location: string
  readonly area: string
  readonly selfMs: number
  readonly selfPct: number
}

const areaOf = (url: string, name: string): string => {
  if (name === "(idle)") return "idle"
  if (name === "(garbage collector)") return "gc"
  if (name === "(program)") return "program (native/V8)"
  if (url === "") return "native"
  if (url.startsWith("node:")) return "node internals"
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m !== null) return m[1]!
  if (url.includes("/src/")) return "tributary src"
  if (url.includes("/bench/") || url.includes("/test/")) return "bench harness"
  return "other"
}

const shortLocation = (url: string, line: number): string => {
  if (url === "") return ""
  const path = url.replace(/^file:\/\//, "")
  const m = /node_modules\/(.*)$/.exec(path) ?? /\/((?:src|bench|test)\/.*)$/.exec(path)
  return `${m?.[1] ?? path}:${line + 1}`
}

/**
 * `window` (monotonic µs, as process.hrtime.bigint() / 1000 in the profiled process) keeps only the
 * samples taken inside it — e.g. the measured run, without module loading and start-up.
 */
export const summariseProfile = (
  file: string,
  top = 25,
  window?: { readonly fromUs: number; readonly toUs: number }
) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  let t = profile.startTime
  let totalUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample; charge it to the sample's node.
    const delta = profile.timeDeltas[i] ?? 0
    t += delta
    if (window !== undefined && (t < window.fromUs || t > window.toUs)) continue
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
    totalUs += delta
  }
  const byFunction = new Map<string, { name: string; location: string; area: string; us: number }>()
  const byArea = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!
    const { functionName, lineNumber, url } = n.callFrame
    const name = functionName === "" ? "(anonymous)" : functionName
    const location = shortLocation(url, lineNumber)
    const area = areaOf(url, name)
    const key = `${name}@${location}`
    const entry = byFunction.get(key) ?? { name, location, area, us: 0 }
    entry.us += us
    byFunction.set(key, entry)
    byArea.set(area, (byArea.get(area) ?? 0) + us)
  }
  const idleUs = byArea.get("idle") ?? 0
  const busyUs = totalUs - idleUs
  const functions: Array<FunctionSelfTime> = [...byFunction.values()]
    .filter((f) => f.area !== "idle")
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => ({
      name: f.name,
      location: f.location,
      area: f.area,
      selfMs: Math.round(f.us / 100) / 10,
      selfPct: Math.round((f.us / busyUs) * 1000) / 10
    }))
  const areas = [...byArea.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([area, us]) => ({
      area,
      selfMs: Math.round(us / 1000),
      pctOfBusy: area === "idle" ? null : Math.round((us / busyUs) * 1000) / 10
    }))
  const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + " ".repeat(n - s.length))
  const table = [
    `profile ${file}${window === undefined ? "" : " (measured window only)"}: ${Math.round(totalUs / 1000)} ms wall, ${
      Math.round(busyUs / 1000)
    } ms busy (main thread)`,
    `${pad("self %", 8)}${pad("self ms", 10)}${pad("area", 22)}${pad("function", 40)}location`,
    ...functions.map((f) =>
      `${pad(String(f.selfPct), 8)}${pad(String(f.selfMs), 10)}${pad(f.area, 22)}${pad(f.name, 40)}${f.location}`
    ),
    "",
    "by area (self time):",
    ...areas.map((a) =>
      `  ${pad(a.area, 28)}${pad(String(a.selfMs), 10)}${a.pctOfBusy === null ? "" : `${a.pctOfBusy} %`}`
    )
  ].join("\n")
  return { file, wallMs: Math.round(totalUs / 1000), busyMs: Math.round(busyUs / 1000), functions, areas, table }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error("usage: node bench/profile-summary.ts <file.cpuprofile> [top]")
    process.exit(2)
  }
  // Optional 4th/5th arguments: the window in monotonic µs (monoFirstUs / monoEndUs of a BENCH_RESULT).
  const window = process.argv[4] !== undefined && process.argv[5] !== undefined
    ? { fromUs: Number(process.argv[4]), toUs: Number(process.argv[5]) }
    : undefined
  console.log(summariseProfile(file, Number(process.argv[3] ?? 25), window).table)
}
