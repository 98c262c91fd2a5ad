import { Effect } from "effect"
import { type UserEventsSettings, userEventsSettings } from "../../config/UserEventsConfig.ts"
import { toUserEventRow, UserEvent } from "../../domain/UserEvent.ts"
import {
  classifyCassandraError,
  definePipeline,
  inputDecoding,
  jsonBatchDecoder,
  PipelineRegistry,
  runPipelineWith,
  statelessJob
} from "../../index.ts"
import { UserEventsSimulator } from "../../simulator/UserEventsSimulator.ts"
import { InMemoryUserEvents } from "../../sinks/cassandra/InMemoryUserEvents.ts"
import { UserEventsSink } from "../../sinks/cassandra/UserEventsSink.ts"

export const decodeUserEvents = jsonBatchDecoder(UserEvent)

/**
 * Seed 004: `UserEvent` JSON from Kafka, mapped to the Cassandra model (bucket = UTC date, or hour, of
 * `event_time`) and upserted into `user_events` through the UserEventsSink in context. Offsets are
 * committed only after Cassandra acknowledged the batch.
 */
export const userEventsPipeline = definePipeline({
  name: "user-events",
  input: "user-events",
  description: "UserEvent JSON → bucketed by UTC day (or hour) → Cassandra event_streaming.user_events (seed 004)",
  settings: userEventsSettings,
  sourceTopics: (settings) => [settings.topic],
  adapters: (settings) => ({
    layer: UserEventsSink.layer(settings),
    // Same upsert semantics, so the embedded demo needs no database.
    layerInMemory: InMemoryUserEvents.layer({ seedKey: settings.seedKey, bucket: settings.bucket })
  }),
  jobs: (settings) =>
    Effect.gen(function*() {
      const sink = yield* UserEventsSink
      const stats = yield* (yield* PipelineRegistry).register("user-events")
      return [statelessJob({
        name: "user-events",
        source: { groupId: settings.groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
        ...(yield* inputDecoding(settings.input, UserEvent)),
        map: (event) => toUserEventRow(event, settings.bucket),
        output: {
          _tag: "AtLeastOnce",
          concurrency: 2,
          // Transient failures are retried; a row Cassandra refuses is dead-lettered; what is left (bad
          // CQL, wrong table) would fail the same way forever: the pipeline stops with the batch uncommitted.
          classify: classifyCassandraError,
          write: (rows) =>
            sink.write(rows).pipe(
              Effect.andThen(stats.tallyAll("events per type", rows, (r) => r.event_type)),
              Effect.as(rows)
            )
        }
      })]
    }),
  simulate: (settings, sim) =>
    Effect.sync(() => {
      const simulator = new UserEventsSimulator(sim.seed, sim.malformedShare)
      return { topic: settings.topic, ratePerSecond: sim.ratePerSecond, batch: (n, now) => simulator.batch(n, now) }
    }),
  // Building the real sink creates the keyspace and table when missing, and checks the table's key.
  setup: () => Effect.asVoid(UserEventsSink)
})

/** Runs the pipeline until interrupted, over the UserEventsSink in context. */
export const runUserEventsPipeline = (settings: UserEventsSettings) => runPipelineWith(userEventsPipeline, settings)
