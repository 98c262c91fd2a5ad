/**
 * Tributary as K processes in ONE consumer group (its scale-out model), seen from the orchestrator.
 *
 * Per run, every member gets the same fresh group id. Each run starts in every member at once (a
 * "go" barrier on stdin once all have printed `BENCH_WAIT <tag>`), and ends when the orchestrator has
 * seen the whole group done in the members' `BENCH_PROGRESS` lines: transactions, every member has
 * consumed its partitions to the end with every output acknowledged, and the members' assignments
 * cover every partition; card aggregates, the group's committed checkpoints reach the end (any member
 * sees it). Then "stop" goes to all. The members' results are merged into one per tag (mergeMembers);
 * the ChildRun sums CPU and peak RSS (the max is kept too).
 */
import type { RunSpec } from "../systems/tributary.ts"
import { type ChildRun, nodeChild, type Running, type Started } from "./children.ts"
import { sum } from "./common.ts"
import { params, type ProducerClient, runId } from "./params.ts"

export type TributaryPipeline = "transactions" | "cards"

interface Progress {
  readonly tag: string
  readonly done: boolean
  readonly at?: number
  readonly assigned: Array<number>
}

export const startTributaryGroup = (
  name: string,
  pipeline: TributaryPipeline,
  runs: ReadonlyArray<RunSpec>,
  processes: number,
  producerClient: ProducerClient = "kafkajs"
): Running => {
  const groupIds = new Map(runs.map((r) => [r.tag, `bench-${r.tag}-${runId}-${name}-g${processes}`]))
  const waiting = new Set<number>()
  const progress = new Map<number, Progress>()
  const goAt = new Map<string, number>()
  const doneAt = new Map<string, number>()
  /** When every member has had an assignment in the current run (the K-member group exists). */
  const formedAt = new Map<string, number>()
  const everAssigned = new Set<number>()
  let current = ""
  const members: Array<Started> = []
  const send = (line: string) => {
    for (const m of members) m.child.stdin?.write(`${line}\n`)
  }
  const onLine = (i: number) => (line: string) => {
    if (line.startsWith("BENCH_WAIT ")) {
      waiting.add(i)
      if (waiting.size === processes) {
        waiting.clear()
        progress.clear()
        everAssigned.clear()
        current = line.slice("BENCH_WAIT ".length)
        goAt.set(current, Date.now())
        send("go")
      }
    } else if (line.startsWith("BENCH_PROGRESS ")) {
      const p = JSON.parse(line.slice("BENCH_PROGRESS ".length)) as Progress
      if (p.tag !== current || doneAt.has(current)) return
      progress.set(i, p)
      if (p.assigned.length > 0) everAssigned.add(i)
      if (everAssigned.size === processes && !formedAt.has(current)) formedAt.set(current, Date.now())
      const all = [...progress.values()]
      const covered = new Set(all.flatMap((x) => x.assigned))
      // Every member must have joined with partitions: otherwise the run was one process's, not K's.
      // Each member reports done once the group's commits reach the end and its own outputs are
      // acknowledged; the run ends at the latest member's last acknowledged output.
      const groupDone = everAssigned.size === processes && all.length === processes && all.every((x) => x.done) &&
        covered.size === params.partitions
      if (groupDone) {
        const ats = all.flatMap((x) => (x.at === undefined ? [] : [x.at]))
        doneAt.set(current, pipeline === "cards" ? Math.min(...ats) : Math.max(...ats))
        send("stop")
      }
    }
  }
  for (let i = 0; i < processes; i++) {
    members.push(nodeChild(
      `${name}-${i}`,
      "tributary.ts",
      {
        pipeline,
        cardImpl: params.cardImpl,
        bootstrap: params.bootstrap,
        coordinated: true,
        producerClient,
        runs: runs.map((r) => ({ ...r, groupId: groupIds.get(r.tag) }))
      },
      [],
      onLine(i)
    ))
  }
  const combine = (done: ReadonlyArray<ChildRun>): ChildRun => {
    const results = runs.flatMap((r) => {
      const rs = done.map((d) => d.results.find((x) => x["tag"] === r.tag)).filter((x) => x !== undefined)
      if (rs.length !== processes || !doneAt.has(r.tag)) return []
      return [mergeMembers(pipeline, r, rs, goAt.get(r.tag)!, doneAt.get(r.tag)!, formedAt.get(r.tag)!)]
    })
    const hwms = done.map((d) => d.procPeakRssKb ?? 0)
    return {
      results,
      procCpuSec: sum(done.map((d) => d.procCpuSec ?? 0)),
      procPeakRssKb: Math.max(sum(hwms), ...results.map((r) => Number(r["vmHwmKb"] ?? 0))) || undefined,
      procPeakRssMaxKb: Math.max(...hwms, ...results.map((r) => Number(r["vmHwmMaxKb"] ?? 0))) || undefined,
      samples: done[0]!.samples,
      exitCode: done.find((d) => d.exitCode !== 0)?.exitCode ?? done[0]!.exitCode
    }
  }
  return {
    done: Promise.all(members.map((m) => m.done)).then(combine),
    stop: () => Promise.all(members.map((m) => m.stop())).then(combine)
  }
}

/** One result from K members: wall time from the first record any member saw to the group's end. */
const mergeMembers = (
  pipeline: TributaryPipeline,
  run: RunSpec,
  members: ReadonlyArray<Record<string, unknown>>,
  goAt: number,
  endAt: number,
  formedAt: number
): Record<string, unknown> => {
  const records = sum(run.endOffsets)
  const firsts = members.map((m) => m["firstAt"] as number | undefined).filter((x) => x !== undefined)
  const firstAt = Math.min(...firsts)
  const wallMs = endAt - firstAt
  const cpuSec = sum(members.map((m) => m["cpuSec"] as number))
  const total = (k: string) => sum(members.map((m) => Number(m[k] ?? 0)))
  const hwm = members.map((m) => Number(m["vmHwmKb"] ?? 0))
  return {
    system: `tributary-${pipeline}`,
    impl: members[0]!["impl"],
    tag: run.tag,
    processes: members.length,
    records,
    recordsIn: total("recordsIn"),
    recordsOut: total("recordsOut"),
    deadLettered: total("deadLettered"),
    late: total("late"),
    commits: total("commits"),
    rebalances: total("rebalances"),
    // Records consumed twice (a rebalance hands over partitions with uncommitted offsets).
    reconsumed: total("recordsIn") - records,
    firstAt,
    endAt,
    // Barrier → first record of any member: process set-up and the K-member group join.
    startupMs: firstAt - goAt,
    // First record → every member has partitions. The dev broker has group.initial.rebalance.delay.ms=0:
    // the first member starts alone, the others join at its next heartbeat (≤ 3 s), inside the window.
    groupFormedMs: formedAt - firstAt,
    wallMs,
    recordsPerSec: records / (wallMs / 1000),
    cpuSec,
    recordsPerCpuSec: records / cpuSec,
    cpuUtilisation: cpuSec / (wallMs / 1000),
    vmHwmKb: sum(hwm),
    vmHwmMaxKb: Math.max(...hwm),
    members
  }
}
