import { Config } from "effect"
import { booleanAnyCase, literalsAnyCase } from "./AnyCase.ts"
import { sourceSettings } from "./PipelineConfig.ts"

/** Consistency levels a write may ask for (names as in CQL). */
export type WriteConsistency = "ONE" | "LOCAL_ONE" | "QUORUM" | "LOCAL_QUORUM" | "EACH_QUORUM" | "ALL"

/** Connection to a Cassandra cluster (the `user-events` pipeline's store). */
export const cassandraSettings = Config.all({
  /** `host` or `host:port`, comma-separated. The default is the local test node of scripts/cassandra.sh. */
  contactPoints: Config.String("CASSANDRA_CONTACT_POINTS").pipe(
    Config.withDefault("127.0.0.1:19042"),
    Config.map((s) => s.split(",").map((p) => p.trim()).filter((p) => p.length > 0))
  ),
  localDataCenter: Config.String("CASSANDRA_LOCAL_DC").pipe(Config.withDefault("datacenter1")),
  keyspace: Config.String("CASSANDRA_KEYSPACE").pipe(Config.withDefault("event_streaming")),
  /** Both or neither: a password without a user name is a configuration error. */
  credentials: Config.option(Config.all({
    username: Config.String("CASSANDRA_USERNAME"),
    password: Config.Redacted("CASSANDRA_PASSWORD")
  })),
  /** Replication factor `setup cassandra` gives a keyspace it creates (NetworkTopologyStrategy in the local DC). */
  replicationFactor: Config.Int("CASSANDRA_REPLICATION_FACTOR").pipe(Config.withDefault(1)),
  writeConsistency: literalsAnyCase(
    ["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"],
    "CASSANDRA_WRITE_CONSISTENCY"
  ).pipe(Config.withDefault<WriteConsistency>("LOCAL_QUORUM")),
  /** Client-side timeout of one request; a timed-out write is retried (writes are idempotent upserts). */
  requestTimeoutMs: Config.Int("CASSANDRA_REQUEST_TIMEOUT_MS").pipe(Config.withDefault(12_000)),
  connectTimeoutMs: Config.Int("CASSANDRA_CONNECT_TIMEOUT_MS").pipe(Config.withDefault(5_000))
})
export type CassandraSettings = Config.Success<typeof cassandraSettings>

/** The `user-events` pipeline (seed 004): Kafka `user-events` → Cassandra `event_streaming.user_events`. */
export const userEventsSettings = Config.all({
  ...sourceSettings(["USER_EVENTS_TOPIC", "user-events"], ["USER_EVENTS_GROUP_ID", "tributary-user-events"]),
  table: Config.String("USER_EVENTS_TABLE").pipe(Config.withDefault("user_events")),
  /** Partition bucket: `day` (the seed's `bucket_date`) or `hour` (adds `bucket_hour`, against hot partitions). */
  bucket: literalsAnyCase(["day", "hour"], "USER_EVENTS_BUCKET").pipe(Config.withDefault<"day" | "hour">("day")),
  /**
   * True: the seed's exact primary key `((user_id, bucket_date), event_time, event_type)`, which keeps only
   * the last of two events of one type in the same millisecond. False (default): `event_id` is the last
   * clustering column, so no event is lost.
   */
  seedKey: booleanAnyCase("USER_EVENTS_SEED_KEY").pipe(Config.withDefault(false)),
  /** Partition batches written at once. */
  writeConcurrency: Config.Int("CASSANDRA_WRITE_CONCURRENCY").pipe(Config.withDefault(8)),
  /** Rows per unlogged batch (one partition each); bigger partitions in a Kafka batch are split. */
  maxBatchRows: Config.Int("CASSANDRA_BATCH_MAX_ROWS").pipe(Config.withDefault(100)),
  cassandra: cassandraSettings
})
export type UserEventsSettings = Config.Success<typeof userEventsSettings>
