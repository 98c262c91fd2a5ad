import { createServer } from "node:net"
import { type RunningService, startService } from "../../support/ServiceProcess.ts"

/** The service (`node dist/main.js`), whose `run` serves metrics, health and the dashboard. */
export const startObservedService = (args: ReadonlyArray<string>, env: Record<string, string>): RunningService =>
  startService(args, env)

/** A TCP port nothing listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export const getText = async (
  url: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: string }> => {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) })
  return { status: res.status, body: await res.text() }
}

/** Polls `check` every 250 ms until it returns a value, or fails after `timeoutMs` with `what`. */
export const eventually = async <A>(
  what: string,
  check: () => Promise<A | undefined>,
  timeoutMs = 30_000,
  service?: RunningService
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const a = await check()
      if (a !== undefined) return a
    } catch (e) {
      last = e
    }
    if (service !== undefined && service.child.exitCode !== null) {
      throw new Error(`service exited while waiting until ${what}:\n${service.output().slice(-4000)}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting until ${what}${
      last === undefined ? "" : ` (last error: ${String(last)})`
    }` +
      (service === undefined ? "" : `\n${service.output().slice(-4000)}`)
  )
}

/** SIGTERM, then SIGKILL if it does not stop in time. */
export const stopService = async (service: RunningService, graceMs = 15_000): Promise<void> => {
  if (service.child.exitCode !== null) return
  service.child.kill("SIGTERM")
  const timer = setTimeout(() => service.child.kill("SIGKILL"), graceMs)
  await service.exited
  clearTimeout(timer)
}
