import { Layer } from "effect"
import { randomUUID } from "node:crypto"
import {
  type CassandraSettings,
  cassandraSettings,
  type UserEventsSettings,
  userEventsSettings
} from "../../src/config/UserEventsConfig.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { CassandraClient } from "../../src/sinks/cassandra/CassandraClient.ts"
import { ensureStarted, probeAddress, scriptPid } from "./LocalService.ts"
import { realKafkaLayer } from "./TestKafka.ts"
import { settingsFrom } from "./TestSettings.ts"

/** The CQL address of the local node (scripts/cassandra.sh), or TRIBUTARY_TEST_CASSANDRA. */
export const cassandraContactPoint = (): string =>
  process.env["TRIBUTARY_TEST_CASSANDRA"] ?? `127.0.0.1:${process.env["TRIBUTARY_CASSANDRA_PORT"] ?? "19042"}`

/**
 * For integration tests' `beforeAll`: finds the local Cassandra node, starting it with the project's
 * script when its CQL port is closed. Throws when it cannot be started: these tests are never skipped.
 */
export const ensureCassandra = async (): Promise<string> => {
  const contactPoint = cassandraContactPoint()
  await ensureStarted({
    script: "cassandra",
    reachable: await probeAddress(contactPoint, "19042"),
    notFound: `no Cassandra at ${contactPoint}; starting one with scripts/cassandra.sh (about 20 s)`,
    what: "the Cassandra node"
  })
  return contactPoint
}

/** The pid of the node scripts/cassandra.sh started (for pausing it); throws when there is none. */
export const cassandraPid = (): number => scriptPid("cassandra")

/** A keyspace name no other test (or earlier run) uses: CQL identifiers allow no dashes. */
export const uniqueKeyspace = (prefix: string): string => `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 10)}`

/** Cassandra settings for a test: the local node and a keyspace of its own, the rest as configured by default. */
export const testCassandraSettings = (overrides: Partial<CassandraSettings> = {}): CassandraSettings =>
  settingsFrom(cassandraSettings, {
    CASSANDRA_CONTACT_POINTS: cassandraContactPoint(),
    CASSANDRA_KEYSPACE: uniqueKeyspace("it")
  }, overrides)

/** Settings of the user-events pipeline for a test: its own topic, group and keyspace. */
export const testUserEventsSettings = (
  overrides: Partial<Omit<UserEventsSettings, "cassandra">> & { readonly cassandra?: Partial<CassandraSettings> } = {}
): UserEventsSettings => {
  const { cassandra, ...rest } = overrides
  return settingsFrom(userEventsSettings, {
    USER_EVENTS_TOPIC: `user-events-${randomUUID().slice(0, 8)}`,
    USER_EVENTS_GROUP_ID: `user-events-${randomUUID().slice(0, 8)}`
  }, { ...rest, cassandra: testCassandraSettings(cassandra) })
}

/** Real Kafka, a stats registry and a Cassandra client: what the user-events integration tests run on. */
export const userEventsTestLayer = () =>
  Layer.mergeAll(realKafkaLayer(), PipelineRegistry.layer, CassandraClient.layer(testUserEventsSettings().cassandra))
