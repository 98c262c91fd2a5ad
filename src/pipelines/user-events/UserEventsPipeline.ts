import { Effect, Layer } from "effect"
import { type UserEventsSettings, userEventsSettings } from "../../config/UserEventsConfig.ts"
import { toUserEventRow, UserEvent } from "../../domain/UserEvent.ts"
import { isEmbedded } from "../../kafka/KafkaLayer.ts"
import { PipelineRegistry } from "../../observability/PipelineStats.ts"
import { CassandraClient } from "../../sinks/cassandra/CassandraClient.ts"
import { InMemoryUserEvents } from "../../sinks/cassandra/InMemoryUserEvents.ts"
import { tableOptions, UserEventsSink } from "../../sinks/cassandra/UserEventsSink.ts"
import { ensureUserEventsTable } from "../../sinks/cassandra/UserEventsTable.ts"
import { jsonBatchDecoder } from "../shared/JsonDecoder.ts"
import { runStatelessPipeline } from "../shared/StatelessPipeline.ts"

export const decodeUserEvents = jsonBatchDecoder(UserEvent)

/**
 * Seed 004: `UserEvent` JSON from Kafka, mapped to the Cassandra model (bucket = UTC date, or hour, of
 * `event_time`) and upserted into `user_events` through the UserEventsSink in context. Offsets are
 * committed only after Cassandra acknowledged the batch.
 */
export const runUserEventsPipeline = Effect.fn("UserEventsPipeline.run")(function*(settings: UserEventsSettings) {
  const sink = yield* UserEventsSink
  const stats = yield* (yield* PipelineRegistry).register("user-events")
  return yield* runStatelessPipeline({
    name: "user-events",
    groupId: settings.groupId,
    topics: [settings.topic],
    deadLetters: settings.deadLetters,
    decode: decodeUserEvents,
    write: (valid) => {
      const rows = valid.map((v) => toUserEventRow(v.value, settings.bucket))
      return sink.write(rows).pipe(
        // Transient failures were retried inside the sink; what is left (bad CQL, wrong table) would fail
        // the same way forever, so stop with the batch uncommitted: a fixed restart replays it.
        Effect.orDie,
        Effect.tap(() => stats.tallyAll("events per type", rows, (r) => r.event_type)),
        Effect.as(rows)
      )
    }
  })
})

/**
 * The sink `run` uses: Cassandra, or, in the embedded demo (no Kafka configured), an in-memory table
 * with the same upsert semantics so the demo needs no database.
 */
export const userEventsSinkLayer = (settings: UserEventsSettings) =>
  Layer.unwrap(Effect.map(isEmbedded, (embedded) =>
    embedded
      ? InMemoryUserEvents.layer({ seedKey: settings.seedKey, bucket: settings.bucket })
      : UserEventsSink.layer(settings)))

/**
 * `setup cassandra`: creates the keyspace (NetworkTopologyStrategy, CASSANDRA_REPLICATION_FACTOR in
 * CASSANDRA_LOCAL_DC) and the `user_events` table if missing, then checks the table's key matches the
 * configuration. Idempotent; needs nothing but configuration.
 */
export const setupCassandra = Effect.gen(function*() {
  const settings = yield* userEventsSettings
  const table = yield* ensureUserEventsTable(tableOptions(settings)).pipe(
    Effect.provide(CassandraClient.layer(settings.cassandra))
  )
  yield* Effect.logInfo(`Cassandra: ${table.qualifiedName} is there (created or already present)`)
})
