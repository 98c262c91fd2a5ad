import { Option } from "effect"
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { createConnection } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { CassandraSettings, UserEventsSettings } from "../../src/config/UserEventsConfig.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "../..")

/** The CQL address of the local node (scripts/cassandra.sh), or TRIBUTARY_TEST_CASSANDRA. */
export const cassandraContactPoint = (): string =>
  process.env["TRIBUTARY_TEST_CASSANDRA"] ?? `127.0.0.1:${process.env["TRIBUTARY_CASSANDRA_PORT"] ?? "19042"}`

const probe = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port, timeout: 1_000 })
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
  })

/**
 * For integration tests' `beforeAll`: finds the local Cassandra node, starting it with the project's
 * script when its CQL port is closed. Throws when it cannot be started: these tests are never skipped.
 */
export const ensureCassandra = async (): Promise<string> => {
  const contactPoint = cassandraContactPoint()
  const [host = "127.0.0.1", port = "19042"] = contactPoint.split(":")
  if (!(await probe(host, Number(port)))) {
    console.log(`[tests] no Cassandra at ${contactPoint}; starting one with scripts/cassandra.sh (about 20 s)`)
    try {
      execFileSync("bash", [join(root, "scripts/cassandra.sh"), "start"], { stdio: "inherit" })
    } catch (error) {
      throw new Error(
        `[tests] the Cassandra node needed by the integration tests could not be started: ${String(error)}`,
        { cause: error }
      )
    }
  }
  return contactPoint
}

/** The pid of the node scripts/cassandra.sh started (for pausing it); throws when there is none. */
export const cassandraPid = (): number => {
  const pid = Number(readFileSync(join(root, ".it/cassandra/pid"), "utf8").trim())
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new Error("no pid in .it/cassandra/pid: is the node started by scripts/cassandra.sh?")
  }
  return pid
}

/** A keyspace name no other test (or earlier run) uses: CQL identifiers allow no dashes. */
export const uniqueKeyspace = (prefix: string): string => `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 10)}`

export const testCassandraSettings = (overrides: Partial<CassandraSettings> = {}): CassandraSettings => ({
  contactPoints: [cassandraContactPoint()],
  localDataCenter: "datacenter1",
  keyspace: uniqueKeyspace("it"),
  credentials: Option.none(),
  replicationFactor: 1,
  writeConsistency: "LOCAL_QUORUM",
  requestTimeoutMs: 12_000,
  connectTimeoutMs: 5_000,
  ...overrides
})

/** Settings of the user-events pipeline for a test: its own topic, group and keyspace. */
export const testUserEventsSettings = (
  overrides: Partial<Omit<UserEventsSettings, "cassandra">> & { readonly cassandra?: Partial<CassandraSettings> } = {}
): UserEventsSettings => {
  const { cassandra, ...rest } = overrides
  return {
    topic: `user-events-${randomUUID().slice(0, 8)}`,
    groupId: `user-events-${randomUUID().slice(0, 8)}`,
    table: "user_events",
    bucket: "day",
    seedKey: false,
    writeConcurrency: 8,
    maxBatchRows: 100,
    deadLetters: { policy: "dead-letter", topic: Option.none() },
    ...rest,
    cassandra: testCassandraSettings(cassandra)
  }
}
