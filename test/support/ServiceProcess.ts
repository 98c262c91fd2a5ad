import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
export const mainScript = join(root, "dist", "main.js")

export interface RunningService {
  readonly child: ChildProcess
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>
}

/**
 * Starts `node <script> ...args` as a real child process with only the given environment (plus PATH),
 * the way an operator would run the service. `npm test` builds dist/ first.
 */
export const startProcess = (
  script: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>
): RunningService => {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first (npm test does)`)
  const child = spawn(process.execPath, [script, ...args], {
    cwd: root,
    // Any free port for the metrics/dashboard server unless the test picks one: tests run several services.
    env: { PATH: process.env["PATH"] ?? "", METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  return {
    child,
    output: () => output,
    exited,
    waitForOutput: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now()
        const check = () => {
          if (pattern.test(output)) return resolve()
          if (child.exitCode !== null) return reject(new Error(`process exited before ${pattern}:\n${output}`))
          if (Date.now() - started > timeoutMs) {
            return reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`))
          }
          setTimeout(check, 100)
        }
        check()
      })
  }
}

export const startService = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  startProcess(mainScript, args, env)
