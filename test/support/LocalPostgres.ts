import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createConnection } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "../..")

/** host:port of the local server (scripts/postgres.sh), or TRIBUTARY_TEST_POSTGRES. */
export const postgresAddress = (): string =>
  process.env["TRIBUTARY_TEST_POSTGRES"] ?? `127.0.0.1:${process.env["TRIBUTARY_POSTGRES_PORT"] ?? "55432"}`

const probe = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port, timeout: 1_000 })
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
  })

/**
 * For integration tests' `beforeAll`: finds the local PostgreSQL, starting it with the project's script
 * when its port is closed. Throws when it cannot be started: these tests are never skipped.
 */
export const ensurePostgres = async (): Promise<string> => {
  const address = postgresAddress()
  const [host = "127.0.0.1", port = "55432"] = address.split(":")
  if (!(await probe(host, Number(port)))) {
    console.log(`[tests] no PostgreSQL at ${address}; starting one with scripts/postgres.sh`)
    try {
      execFileSync("bash", [join(root, "scripts/postgres.sh"), "start"], { stdio: "inherit" })
    } catch (error) {
      throw new Error(
        `[tests] the PostgreSQL server needed by the integration tests could not be started: ${String(error)}`
      )
    }
  }
  return address
}

/** Creates a database no other test (or earlier run) uses and returns its URL (trust auth, user postgres). */
export const createTestDatabase = (prefix: string): string => {
  const [host = "127.0.0.1", port = "55432"] = postgresAddress().split(":")
  const name = `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 10)}`
  execFileSync("psql", [
    "-q",
    "-h",
    host,
    "-p",
    port,
    "-U",
    "postgres",
    "-d",
    "postgres",
    "-c",
    `create database ${name}`
  ], {
    stdio: ["ignore", "ignore", "inherit"]
  })
  return `postgres://postgres@${host}:${port}/${name}`
}
