/**
 * The systems' child processes, seen from the orchestrator: start one (Node or the Flink JVM), sample
 * its CPU and peak RSS and the broker's CPU from /proc, collect its BENCH_RESULT lines, stop it, and
 * wait for it with a bound.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseResults, procCpuSeconds, procMemory } from "./common.ts"
import { BENCH, log, LOGS, ROOT, runId } from "./params.ts"

const brokerPid = (): number | undefined => {
  try {
    const pid = Number(readFileSync(join(ROOT, ".it/kafka/pid"), "utf8").trim())
    return procCpuSeconds(pid) === undefined ? undefined : pid
  } catch {
    return undefined
  }
}
/** The local broker's pid (scripts/kafka.sh), if it runs on this machine. */
export const BROKER = brokerPid()

export interface Sample {
  readonly at: number
  readonly broker: number | undefined
}

export interface ChildRun {
  readonly results: Array<Record<string, unknown>>
  readonly procCpuSec: number | undefined
  readonly procPeakRssKb: number | undefined
  readonly samples: ReadonlyArray<Sample>
  readonly exitCode: number | null
  /** Several processes (Tributary group mode): procPeakRssKb is their sum, this their max. */
  readonly procPeakRssMaxKb?: number | undefined
}

/** One process or several (a Tributary group), running. */
export interface Running {
  readonly done: Promise<ChildRun>
  /** SIGTERM (SIGKILL after 15 s) to every process; resolves once all have exited. */
  readonly stop: () => Promise<ChildRun>
}

export interface Started extends Running {
  readonly child: ChildProcess
}

export const startChild = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  cwd = ROOT,
  onLine?: (line: string) => void
): Started => {
  // stdin is a pipe only for processes that take commands (group members).
  const child = spawn(command, args, { cwd, stdio: [onLine === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
  let partial = ""
  const logFile = join(LOGS, `${runId}-${name}.log`)
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString()
    if (onLine !== undefined) {
      partial += d.toString()
      let i: number
      while ((i = partial.indexOf("\n")) >= 0) {
        onLine(partial.slice(0, i))
        partial = partial.slice(i + 1)
      }
    }
  })
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const samples: Array<Sample> = []
  let stopping = false
  let cpu: number | undefined
  let hwm: number | undefined
  const sampler = setInterval(() => {
    const c = procCpuSeconds(child.pid!)
    const m = procMemory(child.pid!)
    if (c !== undefined) cpu = c
    // A zombie (exited, not yet reaped) has no Vm* lines.
    if (m !== undefined && Number.isFinite(m.hwmKb)) hwm = Math.max(hwm ?? 0, m.hwmKb)
    samples.push({ at: Date.now(), broker: BROKER === undefined ? undefined : procCpuSeconds(BROKER) })
  }, 100)
  const done = new Promise<ChildRun>((resolve) => {
    child.on("exit", (code) => {
      clearInterval(sampler)
      writeFileSync(logFile, `$ ${command} ${args.join(" ")}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`)
      // 143 = our own SIGTERM, expected when stopping a live system.
      if (code !== 0 && code !== null && !(stopping && code === 143)) {
        log(`${name} exited with ${code}; log: ${logFile}\n${stderr.slice(-3000)}`)
      }
      resolve({ results: parseResults(stdout), procCpuSec: cpu, procPeakRssKb: hwm, samples, exitCode: code })
    })
  })
  const stop = async () => {
    stopping = true
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
    const run = await done
    clearTimeout(timer)
    return run
  }
  return { child, done, stop }
}

/**
 * Waits for a system to finish on its own (its children exit once they have seen their N outputs),
 * but at most `timeoutMs`: past that it is stopped and this throws.
 */
export const awaitBounded = async (name: string, running: Running, timeoutMs: number): Promise<ChildRun> => {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)))
  const outcome = await Promise.race([running.done, timedOut])
  clearTimeout(timer)
  if (outcome !== "timeout") return outcome
  log(`${name}: not done after ${Math.round(timeoutMs / 1000)} s, stopping it`)
  await running.stop()
  throw new Error(`${name}: not done within ${Math.round(timeoutMs / 1000)} s; logs in ${LOGS}`)
}

/** Broker CPU seconds between two instants, from the samples taken while the child ran. */
export const brokerCpuBetween = (samples: ReadonlyArray<Sample>, from: number, to: number): number | undefined => {
  const before = samples.toReversed().find((s) => s.at <= from && s.broker !== undefined)
  const after = samples.find((s) => s.at >= to && s.broker !== undefined)
  return before === undefined || after === undefined ? undefined : after.broker! - before.broker!
}

/** `node bench/systems/<script> '<json config>'`. */
export const nodeChild = (
  name: string,
  script: string,
  config: unknown,
  nodeFlags: ReadonlyArray<string> = [],
  onLine?: (line: string) => void
) =>
  startChild(
    name,
    process.execPath,
    [...nodeFlags, join(BENCH, "systems", script), JSON.stringify(config)],
    ROOT,
    onLine
  )

// ------------------------------------------------------------------------------------------------
// the Flink baseline (bench/flink)

const FLINK_DIR = join(BENCH, "flink")
// Flink 1.20 reflects into these JDK internals; JDK 17 refuses without them.
const JDK17_OPENS = [
  "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
  "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
  "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
  "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
  "--add-opens=java.base/java.lang=ALL-UNNAMED",
  "--add-opens=java.base/java.net=ALL-UNNAMED",
  "--add-opens=java.base/java.io=ALL-UNNAMED",
  "--add-opens=java.base/java.nio=ALL-UNNAMED",
  "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
  "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
  "--add-opens=java.base/java.text=ALL-UNNAMED",
  "--add-opens=java.base/java.time=ALL-UNNAMED",
  "--add-opens=java.base/java.util=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED"
]

/** `java … tributary.bench.BaselineJob --<k> <v> …`. */
export const flinkChild = (name: string, args: Record<string, string>) =>
  startChild(
    name,
    "java",
    [
      "-Xmx1g",
      ...JDK17_OPENS,
      "-cp",
      `${join(FLINK_DIR, "target/classes")}:${join(FLINK_DIR, "target/lib")}/*`,
      "tributary.bench.BaselineJob",
      ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])
    ],
    FLINK_DIR
  )

/** Builds the Flink job unless its classes are newer than its source, pom and log config. */
export const buildFlink = () => {
  const cls = join(FLINK_DIR, "target/classes/tributary/bench/BaselineJob.class")
  const src = join(FLINK_DIR, "src/main/java/tributary/bench/BaselineJob.java")
  const inputs = [src, join(FLINK_DIR, "pom.xml"), join(FLINK_DIR, "src/main/resources/log4j2.properties")]
  const fresh = existsSync(cls) && existsSync(join(FLINK_DIR, "target/lib")) &&
    inputs.every((f) => statSync(cls).mtimeMs > statSync(f).mtimeMs)
  if (fresh) return
  log("building the Flink baseline (mvn package + dependency:copy-dependencies)")
  execFileSync("mvn", [
    "-q",
    "-B",
    "package",
    "-DskipTests",
    "dependency:copy-dependencies",
    "-DincludeScope=runtime",
    `-DoutputDirectory=${join(FLINK_DIR, "target/lib")}`
  ], { cwd: FLINK_DIR, stdio: ["ignore", "inherit", "inherit"] })
}

const KAFKA_TOOLS_DIR = join(BENCH, "kafka-tools")
/** The classpath of Kafka's performance tools (filled by `fetchKafkaTools`). */
export const KAFKA_TOOLS_CLASSPATH = `${join(KAFKA_TOOLS_DIR, "target/lib")}/*`

/** Copies the jars of Kafka's performance tools from Maven Central, unless they are newer than the pom. */
export const fetchKafkaTools = () => {
  const lib = join(KAFKA_TOOLS_DIR, "target/lib")
  if (existsSync(lib) && statSync(lib).mtimeMs > statSync(join(KAFKA_TOOLS_DIR, "pom.xml")).mtimeMs) return
  log("fetching Kafka's performance tools (mvn dependency:copy-dependencies)")
  execFileSync("mvn", [
    "-q",
    "-B",
    "dependency:copy-dependencies",
    "-DincludeScope=runtime",
    `-DoutputDirectory=${lib}`
  ], {
    cwd: KAFKA_TOOLS_DIR,
    stdio: ["ignore", "inherit", "inherit"]
  })
}

/** `java -version`'s first line, for the report; undefined without a JDK. */
export const javaVersion = (): string | undefined => {
  const r = spawnSync("java", ["-version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  // The JVM prints its version on stderr.
  return r.error === undefined ? `${r.stderr}${r.stdout}`.split("\n")[0] || undefined : undefined
}
