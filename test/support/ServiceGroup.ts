/**
 * Helpers for tests that run several copies of the service in one consumer group (scale-out):
 * which partitions each copy owns over time (from its "partitions assigned" / "partitions revoked" log
 * lines: with cooperative rebalancing each one is a change, not the whole assignment), its metrics (scraped
 * from its own /metrics endpoint).
 */
import { type RunningService, startService } from "./ServiceProcess.ts"

export interface Assignment {
  /** When the test saw the log line (epoch ms; polled every 100 ms). */
  readonly at: number
  readonly kind: "assigned" | "revoked"
  /** The partitions the line names. */
  readonly changed: ReadonlyArray<number>
  /** What the copy owns after it. */
  readonly partitions: ReadonlyArray<number>
}

export interface GroupMember {
  readonly name: string
  readonly service: RunningService
  readonly startedAt: number
  /** When the test first saw output of the process (startup time = this − startedAt). */
  readonly firstOutputAt: () => number | undefined
  /** Every assignment change seen so far, in order. */
  readonly assignments: () => ReadonlyArray<Assignment>
  /** The partitions of the last assignment (empty before the first one, or after a kill). */
  readonly owned: () => ReadonlyArray<number>
  readonly alive: () => boolean
  /** Sum of every sample of a metric on the member's /metrics (undefined until its port is known). */
  readonly metric: (name: string) => Promise<number | undefined>
  /**
   * A per-partition counter (samples with a `partition` label, summed per partition), or undefined
   * when the endpoint does not answer. The last answer is kept in `lastByPartition`.
   */
  readonly partitionMetric: (name: string) => Promise<Map<number, number> | undefined>
  readonly lastByPartition: () => ReadonlyMap<number, number>
  /** The last value `metric("tributary_records_in_total")` returned (kept after the process dies). */
  readonly lastRecordsIn: () => number
  readonly kill: (signal: NodeJS.Signals) => Promise<void>
  readonly stopPolling: () => void
}

const assignmentLine = /partitions (assigned|revoked): ([^\n"]*)/g

/** Starts `node dist/main.js run <pipeline>` and follows its assignments (the env needs HTTP_HOST=127.0.0.1). */
export const startMember = (name: string, pipeline: string, env: Record<string, string>): GroupMember => {
  const service = startService(["run", pipeline], { HTTP_HOST: "127.0.0.1", ...env })
  const startedAt = Date.now()
  const assignments: Array<Assignment> = []
  let scanned = 0
  let dead = false
  let port: number | undefined
  let recordsIn = 0
  let firstOutputAt: number | undefined
  const scan = () => {
    const text = service.output()
    if (firstOutputAt === undefined && text.length > 0) firstOutputAt = Date.now()
    if (port === undefined) {
      const m = /observability: dashboard https?:\/\/[^:/\s]+:(\d+)\//.exec(text)
      if (m !== null) port = Number(m[1])
    }
    // Only complete lines, from where the last scan stopped.
    const end = text.lastIndexOf("\n") + 1
    if (end <= scanned) return
    const chunk = text.slice(scanned, end)
    scanned = end
    for (const m of chunk.matchAll(assignmentLine)) {
      const kind = m[1] as Assignment["kind"]
      const changed = [...m[2]!.matchAll(/:(\d+)(?=,|\s*$)/g)].map((x) => Number(x[1])).sort((a, b) => a - b)
      const before = assignments[assignments.length - 1]?.partitions ?? []
      const partitions = kind === "assigned"
        ? [...new Set([...before, ...changed])].sort((a, b) => a - b)
        : before.filter((p) => !changed.includes(p))
      assignments.push({ at: Date.now(), kind, changed, partitions })
    }
  }
  const timer = setInterval(scan, 100)
  void service.exited.then(() => {
    scan()
    dead = true
    clearInterval(timer)
  })
  let byPartition = new Map<number, number>()
  /** The samples of one metric: [labels, value]. */
  const samples = async (metricName: string): Promise<Array<[string, number]> | undefined> => {
    scan()
    if (port === undefined || dead) return undefined
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) }))
        .text()
      const out: Array<[string, number]> = []
      for (const line of text.split("\n")) {
        if (!line.startsWith(metricName)) continue
        const rest = line.slice(metricName.length)
        if (rest[0] !== " " && rest[0] !== "{") continue
        out.push([rest.slice(0, rest.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))])
      }
      return out
    } catch {
      return undefined
    }
  }
  const metric = async (metricName: string): Promise<number | undefined> => {
    const s = await samples(metricName)
    if (s === undefined) return undefined
    const sum = s.reduce((n, [, v]) => n + v, 0)
    if (metricName === "tributary_records_in_total") recordsIn = sum
    return sum
  }
  const partitionMetric = async (metricName: string): Promise<Map<number, number> | undefined> => {
    const s = await samples(metricName)
    if (s === undefined) return undefined
    const out = new Map<number, number>()
    for (const [labels, v] of s) {
      const m = /partition="(\d+)"/.exec(labels)
      if (m !== null) out.set(Number(m[1]), (out.get(Number(m[1])) ?? 0) + v)
    }
    byPartition = out
    return out
  }
  return {
    name,
    service,
    startedAt,
    firstOutputAt: () => firstOutputAt,
    assignments: () => (scan(), assignments),
    owned: () => (scan(), dead ? [] : (assignments[assignments.length - 1]?.partitions ?? [])),
    alive: () => !dead && service.child.exitCode === null && service.child.signalCode === null,
    metric,
    partitionMetric,
    lastByPartition: () => byPartition,
    lastRecordsIn: () => recordsIn,
    kill: (signal) =>
      new Promise<void>((resolve) => {
        const child = service.child
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill(signal)
      }),
    stopPolling: () => clearInterval(timer)
  }
}

/** True when the live members' current assignments split exactly `partitions` between them. */
export const coversExactly = (members: ReadonlyArray<GroupMember>, partitions: number): boolean => {
  const owned = members.filter((m) => m.alive()).flatMap((m) => m.owned())
  return owned.length === partitions && new Set(owned).size === partitions
}
