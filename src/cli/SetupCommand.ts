import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { serviceSettings } from "../config/ServiceConfig.ts"
import { userEventsSettings } from "../config/UserEventsConfig.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { pipelineNamed, pipelineNames } from "../pipelines/Pipelines.ts"
import { CassandraClient } from "../sinks/cassandra/CassandraClient.ts"
import { tableOptions } from "../sinks/cassandra/UserEventsSink.ts"
import { ensureUserEventsTable } from "../sinks/cassandra/UserEventsTable.ts"
import { appLayer, setupPipeline } from "./AppLayer.ts"
import { setupCardTopic } from "./CardTopicSetup.ts"

const featureGroup = Command.make(
  "feature-group",
  { pipeline: Argument.Literals("pipeline", pipelineNames) },
  ({ pipeline }) =>
    Effect.gen(function*() {
      const done = yield* setupPipeline(pipelineNamed(pipeline))
      if (!done) return yield* Effect.logWarning(`${pipeline} has nothing to set up`)
      yield* Effect.logInfo(`${pipeline}: set up (created or already there)`)
    }).pipe(Effect.provide(appLayer))
).pipe(Command.withDescription("Create or retrieve the feature group a pipeline writes (idempotent)"))

const topic = Command.make(
  "topic",
  {
    name: Argument.String("name").pipe(Argument.optional),
    partitions: Flag.Int("partitions").pipe(Flag.optional)
  },
  ({ name: maybeName, partitions }) =>
    Effect.gen(function*() {
      // Without a name: the card transactions topic, through Hopsworks when it is configured (its Kafka
      // only accepts topics created over its REST API, with a schema), else with the Kafka admin client.
      if (Option.isNone(maybeName)) return yield* setupCardTopic
      const name = maybeName.value
      const service = yield* serviceSettings
      const admin = yield* KafkaAdmin
      const count = Option.getOrElse(partitions, () => service.topicPartitions)
      yield* admin.createTopics([{ topic: name, partitions: count, replicationFactor: service.replicationFactor }])
      yield* Effect.logInfo(`topic ${name} is there (${count} partitions if it was created now)`)
    }).pipe(Effect.provide(kafkaFromConfig))
).pipe(Command.withDescription("Create a Kafka topic if it does not exist"))

/**
 * `setup cassandra`: creates the keyspace (NetworkTopologyStrategy, CASSANDRA_REPLICATION_FACTOR in
 * CASSANDRA_LOCAL_DC) and the `user_events` table if missing, then checks the table's key matches the
 * configuration. Idempotent; needs nothing but configuration.
 */
const setupCassandra = Effect.gen(function*() {
  const settings = yield* userEventsSettings
  const table = yield* ensureUserEventsTable(tableOptions(settings)).pipe(
    Effect.provide(CassandraClient.layer(settings.cassandra))
  )
  yield* Effect.logInfo(`Cassandra: ${table.qualifiedName} is there (created or already present)`)
})

const cassandra = Command.make("cassandra", {}, () => setupCassandra).pipe(
  Command.withDescription("Create the Cassandra keyspace and user_events table if missing (idempotent)")
)

export const setupCommand = Command.make("setup").pipe(
  Command.withDescription("One-time, idempotent set-up: feature groups, topics, tables"),
  Command.withSubcommands([featureGroup, topic, cassandra])
)
