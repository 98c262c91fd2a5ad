import { Context, Effect, Layer } from "effect"
import type { UserEventsSettings } from "../../config/UserEventsConfig.ts"
import { partitionKeyOf, type UserEventRow } from "../../domain/UserEvent.ts"
import { transientBackoff } from "../../shared/Retry.ts"
import { CassandraClient } from "./CassandraClient.ts"
import type { CassandraError } from "./CassandraError.ts"
import {
  ensureUserEventsTable,
  type UserEventsTable,
  userEventsTable,
  type UserEventsTableOptions
} from "./UserEventsTable.ts"

export const tableOptions = (settings: UserEventsSettings): UserEventsTableOptions => ({
  keyspace: settings.cassandra.keyspace,
  table: settings.table,
  bucket: settings.bucket,
  seedKey: settings.seedKey,
  replicationFactor: settings.cassandra.replicationFactor,
  localDataCenter: settings.cassandra.localDataCenter
})

/**
 * Splits rows into per-partition groups of at most `maxRows`. Within the input, a later row replaces an
 * earlier one with the same primary key: statements of one batch share a write timestamp, and Cassandra
 * breaks such ties by value, not by order, so the batch itself must already hold only the newest row.
 */
export const partitionBatches = (
  table: Pick<UserEventsTable, "primaryKeyOf">,
  rows: ReadonlyArray<UserEventRow>,
  maxRows: number
): Array<Array<UserEventRow>> => {
  const partitions = new Map<string, Map<string, UserEventRow>>()
  for (const row of rows) {
    const key = partitionKeyOf(row)
    let partition = partitions.get(key)
    if (partition === undefined) {
      partition = new Map()
      partitions.set(key, partition)
    }
    partition.set(table.primaryKeyOf(row), row)
  }
  const batches: Array<Array<UserEventRow>> = []
  for (const partition of partitions.values()) {
    const unique = [...partition.values()]
    for (let i = 0; i < unique.length; i += maxRows) batches.push(unique.slice(i, i + maxRows))
  }
  return batches
}

/** Writes `user_events` rows. Succeeds only once Cassandra has acknowledged every row. */
export class UserEventsSink extends Context.Service<UserEventsSink, {
  /**
   * Upserts the rows (replays are harmless): one unlogged batch per partition key, a bounded number at
   * once. Transient failures are retried with backoff forever; only permanent ones fail.
   */
  readonly write: (rows: ReadonlyArray<UserEventRow>) => Effect.Effect<void, CassandraError>
}>()("tributary/sinks/cassandra/UserEventsSink") {
  /** Over the CassandraClient in context; creates the table if missing and checks its key first. */
  static readonly layerNoDeps = (settings: UserEventsSettings) =>
    Layer.effect(
      UserEventsSink,
      Effect.gen(function*() {
        const client = yield* CassandraClient
        const table = yield* ensureUserEventsTable(tableOptions(settings))
        yield* Effect.logInfo(
          `user-events: writing to ${table.qualifiedName} (bucket ${settings.bucket}, ` +
            `${settings.seedKey ? "seed key: one event per user, time and type" : "event_id in the key"})`
        )

        const writeBatch = (rows: ReadonlyArray<UserEventRow>) =>
          client.unloggedBatch(rows.map((row) => ({ query: table.insert, params: table.insertParams(row) })))

        const write = (rows: ReadonlyArray<UserEventRow>) => {
          if (rows.length === 0) return Effect.void
          const batches = partitionBatches(table, rows, settings.maxBatchRows)
          // The whole call is retried: partitions written before the failure are written again, which
          // an upsert makes harmless, and one outage gives one log line per attempt rather than one per partition.
          return Effect.forEach(batches, writeBatch, { concurrency: settings.writeConcurrency, discard: true }).pipe(
            Effect.tapError((e) =>
              e.transient
                ? Effect.logWarning(`Cassandra write of ${rows.length} row(s) failed, retrying: ${e.message}`)
                : Effect.void
            ),
            Effect.retry({ schedule: transientBackoff, while: (e) => e.transient })
          )
        }
        return UserEventsSink.of({ write })
      })
    )

  /** Connects to the configured cluster (scoped to the layer) and writes there. */
  static readonly layer = (settings: UserEventsSettings) =>
    UserEventsSink.layerNoDeps(settings).pipe(Layer.provide(CassandraClient.layer(settings.cassandra)))
}

/** The table `settings` describe, without connecting (for reads in tests and tools). */
export const configuredTable = (settings: UserEventsSettings): UserEventsTable =>
  userEventsTable(tableOptions(settings))
