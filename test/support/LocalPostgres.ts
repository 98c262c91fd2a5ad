import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { ensureStarted, probeAddress } from "./LocalService.ts"

/** host:port of the local server (scripts/postgres.sh), or TRIBUTARY_TEST_POSTGRES. */
export const postgresAddress = (): string =>
  process.env["TRIBUTARY_TEST_POSTGRES"] ?? `127.0.0.1:${process.env["TRIBUTARY_POSTGRES_PORT"] ?? "55432"}`

/**
 * For integration tests' `beforeAll`: finds the local PostgreSQL, starting it with the project's script
 * when its port is closed. Throws when it cannot be started: these tests are never skipped.
 */
export const ensurePostgres = async (): Promise<string> => {
  const address = postgresAddress()
  await ensureStarted({
    script: "postgres",
    reachable: await probeAddress(address, "55432"),
    notFound: `no PostgreSQL at ${address}; starting one with scripts/postgres.sh`,
    what: "the PostgreSQL server"
  })
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
