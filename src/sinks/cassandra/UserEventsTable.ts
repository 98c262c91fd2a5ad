import type cassandra from "cassandra-driver"
import { Effect } from "effect"
import type { BucketGranularity, UserEventRow } from "../../domain/UserEvent.ts"
import { CassandraClient } from "./CassandraClient.ts"
import { CassandraError } from "./CassandraError.ts"

/** What decides the shape of the `user_events` table: the keyspace, the bucket, and which primary key. */
export interface UserEventsTableOptions {
  readonly keyspace: string
  readonly table: string
  readonly bucket: BucketGranularity
  /** The seed's exact key `((user_id, bucket_date), event_time, event_type)`; otherwise `event_id` is added. */
  readonly seedKey: boolean
  readonly replicationFactor: number
  readonly localDataCenter: string
}

export interface UserEventsTable {
  readonly qualifiedName: string
  readonly partitionKey: ReadonlyArray<string>
  readonly clustering: ReadonlyArray<{ readonly column: string; readonly order: "DESC" | "ASC" }>
  /** CREATE KEYSPACE / CREATE TABLE, both IF NOT EXISTS. */
  readonly ddl: ReadonlyArray<string>
  readonly insert: string
  /** The bound values of `insert` for a row, in column order. */
  readonly insertParams: (row: UserEventRow) => Array<unknown>
  /** The full primary key of a row, as one string: rows with equal keys overwrite each other. */
  readonly primaryKeyOf: (row: UserEventRow) => string
}

/** Unquoted CQL identifiers only: they are case-insensitive and need no escaping. */
const identifier = /^[A-Za-z][A-Za-z0-9_]{0,47}$/

/** Describes the table for the given options (pure: no I/O). */
export const userEventsTable = (options: UserEventsTableOptions): UserEventsTable => {
  const hour = options.bucket === "hour"
  const partitionKey = hour ? ["user_id", "bucket_date", "bucket_hour"] : ["user_id", "bucket_date"]
  const clustering = [
    { column: "event_time", order: "DESC" as const },
    { column: "event_type", order: "ASC" as const },
    ...(options.seedKey ? [] : [{ column: "event_id", order: "ASC" as const }])
  ]
  const keyspace = options.keyspace.toLowerCase()
  const qualifiedName = `${keyspace}.${options.table.toLowerCase()}`
  const columns = [
    "user_id",
    "bucket_date",
    ...(hour ? ["bucket_hour"] : []),
    "event_time",
    "event_type",
    "event_id",
    "metadata"
  ]
  const table = [
    `CREATE TABLE IF NOT EXISTS ${qualifiedName} (`,
    `    user_id UUID,`,
    `    bucket_date DATE,`,
    ...(hour ? [`    bucket_hour TINYINT,`] : []),
    `    event_time TIMESTAMP,`,
    `    event_type TEXT,`,
    `    event_id UUID,`,
    `    metadata MAP<TEXT, TEXT>,`,
    `    PRIMARY KEY ((${partitionKey.join(", ")}), ${clustering.map((c) => c.column).join(", ")})`,
    `) WITH CLUSTERING ORDER BY (${clustering.map((c) => `${c.column} ${c.order}`).join(", ")});`
  ].join("\n")
  const keyspaceDdl = `CREATE KEYSPACE IF NOT EXISTS ${keyspace}\n` +
    `    WITH replication = {'class': 'NetworkTopologyStrategy', '${options.localDataCenter}': ${options.replicationFactor}};`
  return {
    qualifiedName,
    partitionKey,
    clustering,
    ddl: [keyspaceDdl, table],
    insert: `INSERT INTO ${qualifiedName} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    insertParams: hour
      ? (r) => [r.user_id, r.bucket_date, r.bucket_hour, r.event_time, r.event_type, r.event_id, r.metadata]
      : (r) => [r.user_id, r.bucket_date, r.event_time, r.event_type, r.event_id, r.metadata],
    primaryKeyOf: options.seedKey
      ? (r) => `${r.user_id}|${r.bucket_date}|${r.bucket_hour}|${r.event_time}|${r.event_type}`
      : (r) => `${r.user_id}|${r.bucket_date}|${r.bucket_hour}|${r.event_time}|${r.event_type}|${r.event_id}`
  }
}

const invalid = (operation: string, message: string) => new CassandraError({ operation, transient: false, message })

/** Creates the keyspace and table when missing (idempotent; existing ones are not altered), then checks the key. */
export const ensureUserEventsTable = Effect.fn("UserEventsTable.ensure")(function*(options: UserEventsTableOptions) {
  for (const name of [options.keyspace, options.table]) {
    if (!identifier.test(name)) {
      return yield* invalid("setup", `"${name}" is not a plain CQL identifier (letters, digits, _)`)
    }
  }
  const client = yield* CassandraClient
  const table = userEventsTable(options)
  for (const statement of table.ddl) yield* client.execute(statement, [], { idempotent: true })
  yield* verifyUserEventsTable(table)
  return table
})

/**
 * Fails (permanently) when the existing table's primary key is not the configured one: writing with the
 * wrong key would either be rejected row by row or, for the seed's key, silently merge events.
 */
export const verifyUserEventsTable = Effect.fn("UserEventsTable.verify")(function*(table: UserEventsTable) {
  const client = yield* CassandraClient
  const [keyspace, name] = table.qualifiedName.split(".") as [string, string]
  const columns = yield* client.execute(
    "SELECT column_name, kind, position, clustering_order FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
    [keyspace, name]
  )
  if (columns.length === 0) {
    return yield* invalid("verify", `table ${table.qualifiedName} does not exist; run \`tributary setup cassandra\``)
  }
  const keyOf = (kind: string) =>
    columns.filter((c) => c["kind"] === kind).sort((a, b) => Number(a["position"]) - Number(b["position"]))
  const actual = `((${keyOf("partition_key").map((c) => c["column_name"]).join(", ")}), ${
    keyOf("clustering").map((c) => `${c["column_name"]} ${String(c["clustering_order"]).toUpperCase()}`).join(", ")
  })`
  const expected = `((${table.partitionKey.join(", ")}), ${
    table.clustering.map((c) => `${c.column} ${c.order}`).join(", ")
  })`
  if (actual !== expected) {
    return yield* invalid(
      "verify",
      `table ${table.qualifiedName} has primary key ${actual}, but USER_EVENTS_BUCKET / USER_EVENTS_SEED_KEY ask for ` +
        `${expected}; use another table (USER_EVENTS_TABLE) or the settings it was created with`
    )
  }
})

/** Turns a driver row back into a `UserEventRow` (for reads and tests). */
export const fromCassandraRow = (row: cassandra.types.Row): UserEventRow => ({
  user_id: String(row["user_id"]),
  bucket_date: String(row["bucket_date"]),
  bucket_hour: row["bucket_hour"] === undefined || row["bucket_hour"] === null ? undefined : Number(row["bucket_hour"]),
  event_time: (row["event_time"] as Date).getTime(),
  event_type: String(row["event_type"]),
  event_id: String(row["event_id"]),
  metadata: (row["metadata"] ?? {}) as Record<string, string>
})

/**
 * A user's events of one UTC day, newest first (the table's clustering order). With hour buckets it reads
 * the day's 24 partitions from the last hour to the first, which keeps the order.
 */
export const readUserDay = Effect.fn("UserEventsTable.readUserDay")(
  function*(table: UserEventsTable, userId: string, bucketDate: string) {
    const client = yield* CassandraClient
    const select = `SELECT * FROM ${table.qualifiedName} WHERE ${
      table.partitionKey.map((k) => `${k} = ?`).join(" AND ")
    }`
    if (table.partitionKey.length === 2) {
      return (yield* client.execute(select, [userId, bucketDate])).map(fromCassandraRow)
    }
    const rows: Array<UserEventRow> = []
    for (let hour = 23; hour >= 0; hour--) {
      for (const row of yield* client.execute(select, [userId, bucketDate, hour])) rows.push(fromCassandraRow(row))
    }
    return rows
  }
)

/** Every row of the table (full scan: tests and small demos only). */
export const readAllUserEvents = Effect.fn("UserEventsTable.readAll")(function*(table: UserEventsTable) {
  const client = yield* CassandraClient
  return (yield* client.execute(`SELECT * FROM ${table.qualifiedName}`)).map(fromCassandraRow)
})
