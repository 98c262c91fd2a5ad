import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { PipelineCatalog } from "../app/PipelineCatalog.ts"
import { serviceSettings } from "../config/ServiceConfig.ts"
import { userEventsSettings } from "../config/UserEventsConfig.ts"
import { FeatureStore } from "../hopsworks/FeatureStore.ts"
import { HopsworksError, InvalidFeatureGroupSpec } from "../hopsworks/HopsworksError.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { CassandraClient } from "../sinks/cassandra/CassandraClient.ts"
import { tableOptions } from "../sinks/cassandra/UserEventsSink.ts"
import { ensureUserEventsTable } from "../sinks/cassandra/UserEventsTable.ts"
import { appLayer, setupPipeline } from "./AppLayer.ts"
import { setupCardTopic } from "./CardTopicSetup.ts"
import { describeWithChoices } from "./ChoiceList.ts"

/** The pipelines `setup feature-group` takes, with what each sets up. */
const setupChoices = (catalog: PipelineCatalog) =>
  catalog.pipelines.map((p) => [p.name, p.setup === undefined ? "nothing to set up" : p.description] as const)

/**
 * Feature groups created with the given online column types (`--online-type category=varchar(1000)`)
 * instead of the server's defaults. A name that is not a feature of the feature group is an error,
 * not ignored; whether the type suits the feature is checked with the rest of the definition.
 */
const withOnlineTypes = (onlineTypes: Readonly<Record<string, string>>) =>
  Effect.updateService(FeatureStore, (store) =>
    FeatureStore.of({
      ...store,
      featureGroup: (spec) => {
        const unknown = Object.keys(onlineTypes).filter((name) => !spec.features.some((f) => f.name === name))
        if (unknown.length > 0) {
          return Effect.fail(
            new HopsworksError({
              reason: new InvalidFeatureGroupSpec({
                name: spec.name,
                version: spec.version,
                detail: `--online-type names ${unknown.join(", ")}, which ${unknown.length === 1 ? "is" : "are"} ` +
                  `not among its features (${spec.features.map((f) => f.name).join(", ")})`
              })
            })
          )
        }
        return store.featureGroup({
          ...spec,
          features: spec.features.map((f) => {
            const onlineType = onlineTypes[f.name]
            return onlineType === undefined ? f : { ...f, onlineType }
          })
        })
      }
    }))

const featureGroup = (catalog: PipelineCatalog) =>
  Command.make(
    "feature-group",
    {
      pipeline: Argument.Literals("pipeline", catalog.names).pipe(
        Argument.withDescription("The pipeline whose feature group (or other one-time set-up) to create")
      ),
      onlineTypes: Flag.KeyValuePair("online-type").pipe(
        Flag.withDescription(
          "feature=type: the online column of a feature when the feature group is created, e.g. " +
            "category=varchar(1000) for strings longer than the default varchar(100) (repeatable)"
        ),
        Flag.optional
      )
    },
    ({ onlineTypes, pipeline }) =>
      Effect.gen(function*() {
        const done = yield* setupPipeline(catalog.named(pipeline)).pipe(
          Option.isSome(onlineTypes) ? withOnlineTypes(onlineTypes.value) : (self) => self
        )
        if (!done) return yield* Effect.logWarning(`${pipeline} has nothing to set up`)
        yield* Effect.logInfo(`${pipeline}: set up (created or already there)`)
      }).pipe(Effect.provide(appLayer))
  ).pipe(Command.withDescription(describeWithChoices(
    "Create or retrieve the feature group a pipeline writes (idempotent)",
    "PIPELINES",
    setupChoices(catalog)
  )))

const topic = Command.make(
  "topic",
  {
    name: Argument.String("name").pipe(
      Argument.withDescription(
        "Topic to create; without it, CARD_TRANSACTIONS_TOPIC (through Hopsworks when HOPSWORKS_HOST is set)"
      ),
      Argument.optional
    ),
    partitions: Flag.Int("partitions").pipe(
      Flag.withDescription("Partitions when the topic is created (default: KAFKA_TOPIC_PARTITIONS)"),
      Flag.optional
    )
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

export const setupCommand = (catalog: PipelineCatalog) =>
  Command.make("setup").pipe(
    Command.withDescription(describeWithChoices(
      "One-time, idempotent set-up: feature groups, topics, tables",
      "PIPELINES (setup feature-group <pipeline>)",
      setupChoices(catalog)
    )),
    Command.withSubcommands([featureGroup(catalog), topic, cassandra])
  )
