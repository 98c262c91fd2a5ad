import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { createConnection } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "../..")

/** Whether something accepts TCP connections on `host:port` (1 s connect timeout). */
export const probePort = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port, timeout: 1_000 })
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
  })

/** `probePort` of a "host:port" address (defaults for a missing part). */
export const probeAddress = (address: string, defaultPort: string) => {
  const [host = "127.0.0.1", port = defaultPort] = address.split(":")
  return probePort(host, Number(port))
}

/**
 * For integration tests' `beforeAll` (and the global setup): when `reachable` is false, starts the
 * service with the project's script (`scripts/<script>.sh start`) after logging `notFound`. Throws
 * when it cannot be started: integration tests are never skipped.
 */
export const ensureStarted = async (options: {
  /** `kafka`, `postgres`, `cassandra` or `opensearch`. */
  readonly script: string
  readonly reachable: boolean
  /** Logged before starting, e.g. "no PostgreSQL at 127.0.0.1:55432; starting one with scripts/postgres.sh". */
  readonly notFound: string
  /** For the error, e.g. "the PostgreSQL server". */
  readonly what: string
}): Promise<void> => {
  if (options.reachable) return
  console.log(`[tests] ${options.notFound}`)
  try {
    execFileSync("bash", [join(root, `scripts/${options.script}.sh`), "start"], { stdio: "inherit" })
  } catch (error) {
    throw new Error(
      `[tests] ${options.what} needed by the integration tests could not be started: ${String(error)}`,
      { cause: error }
    )
  }
}

/** The JVM pid of the node `scripts/<script>.sh` started (for pausing it); throws when there is none. */
export const scriptPid = (script: string): number => {
  const pid = Number(readFileSync(join(root, `.it/${script}/pid`), "utf8").trim())
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new Error(`no pid in .it/${script}/pid: is the node started by scripts/${script}.sh?`)
  }
  return pid
}
