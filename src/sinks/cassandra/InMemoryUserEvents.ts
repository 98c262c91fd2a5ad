import { Context, Effect, Layer } from "effect"
import { partitionKeyOf, type UserEventRow } from "../../domain/UserEvent.ts"
import { UserEventsSink } from "./UserEventsSink.ts"
import { userEventsTable } from "./UserEventsTable.ts"

/**
 * The `user_events` table in process memory with Cassandra's write semantics: rows are upserts by
 * primary key, partitions are read in clustering order (event_time DESC, event_type, event_id). For unit
 * tests and the embedded demo, which has no Cassandra.
 */
export class InMemoryUserEvents extends Context.Service<InMemoryUserEvents, {
  /** Row count per primary key, after upserts. */
  readonly size: () => number
  /** One partition in clustering order; `bucketHour` only with hour buckets. */
  readonly partition: (userId: string, bucketDate: string, bucketHour?: number) => ReadonlyArray<UserEventRow>
  readonly all: () => ReadonlyArray<UserEventRow>
  /** Write calls so far (one per Kafka batch). */
  readonly writes: () => number
}>()("tributary/sinks/cassandra/InMemoryUserEvents") {
  /** UserEventsSink over an in-memory table, the table itself exposed for assertions. */
  static readonly layer = (options: { readonly seedKey: boolean; readonly bucket: "day" | "hour" }) =>
    Layer.effectContext(Effect.sync(() => {
      const keyOf = userEventsTable({
        keyspace: "memory",
        table: "user_events",
        bucket: options.bucket,
        seedKey: options.seedKey,
        replicationFactor: 1,
        localDataCenter: "memory"
      }).primaryKeyOf
      const partitions = new Map<string, Map<string, UserEventRow>>()
      let writes = 0
      const sink = UserEventsSink.of({
        write: (rows) =>
          Effect.sync(() => {
            writes++
            for (const row of rows) {
              const key = partitionKeyOf(row)
              const partition = partitions.get(key) ?? new Map<string, UserEventRow>()
              partition.set(keyOf(row), row)
              partitions.set(key, partition)
            }
          })
      })
      const table = InMemoryUserEvents.of({
        size: () => [...partitions.values()].reduce((n, p) => n + p.size, 0),
        partition: (userId, bucketDate, bucketHour) =>
          inOrder(
            partitions.get(
              bucketHour === undefined ? `${userId}|${bucketDate}` : `${userId}|${bucketDate}|${bucketHour}`
            )
              ?.values() ?? []
          ),
        all: () => [...partitions.values()].flatMap((p) => inOrder(p.values())),
        writes: () => writes
      })
      return Context.make(UserEventsSink, sink).pipe(Context.add(InMemoryUserEvents, table))
    }))
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Clustering order: event_time DESC, event_type ASC, event_id ASC. */
const inOrder = (rows: Iterable<UserEventRow>) =>
  [...rows].sort((a, b) =>
    b.event_time - a.event_time || compare(a.event_type, b.event_type) || compare(a.event_id, b.event_id)
  )
