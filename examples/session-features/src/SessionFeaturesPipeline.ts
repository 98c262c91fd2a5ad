/**
 * Per user, 1-hour event-time windows over page events → a Hopsworks feature group
 * (`user_session_1h`, primary key `user_id`, event time `window_start`). At-least-once: a replay
 * re-writes rows that upsert to the same values.
 *
 *   tributary run --pipeline ./src/SessionFeaturesPipeline.ts
 */
import { Config, Effect, Option } from "effect"
import {
  definePipeline,
  FeatureStore,
  jsonBatchDecoder,
  makeWindowEngine,
  PipelineRegistry,
  sourceSettings,
  tumbling,
  windowedJob,
  type WindowEngine
} from "tributary"
import {
  HOUR_MS,
  makeSimulator,
  PageEvent,
  type SessionAggregate,
  sessionAggregator,
  sessionFeatures,
  toSessionRow
} from "./SessionFeatures.ts"

/** Read from the environment; every variable has a default. */
export const sessionSettings = Config.all({
  ...sourceSettings(["SESSION_EVENTS_TOPIC", "page-events"], ["SESSION_GROUP_ID", "session-features"]),
  featureGroupName: Config.String("SESSION_FEATURE_GROUP").pipe(Config.withDefault("user_session_1h")),
  featureGroupVersion: Config.Int("SESSION_FEATURE_GROUP_VERSION").pipe(Config.withDefault(1)),
  outOfOrdernessSeconds: Config.Int("SESSION_OUT_OF_ORDERNESS_SECONDS").pipe(Config.withDefault(60)),
  idleTimeoutSeconds: Config.Int("SESSION_IDLE_TIMEOUT_SECONDS").pipe(Config.withDefault(30)),
  lateRecordsTopic: Config.option(Config.String("SESSION_LATE_TOPIC"))
})
export type SessionSettings = Config.Success<typeof sessionSettings>

/** Get-or-create the feature group, and a writer for it (idempotent: also `setup feature-group`). */
const featureGroup = (settings: SessionSettings) =>
  Effect.flatMap(FeatureStore, (store) =>
    store.featureGroup({
      name: settings.featureGroupName,
      version: settings.featureGroupVersion,
      description: "Per user and 1-hour event-time window: events, views, carts, purchases, revenue",
      primaryKey: ["user_id"],
      eventTime: "window_start",
      features: sessionFeatures,
      onlineEnabled: true
    }))

export const makeSessionEngine = (settings: SessionSettings): WindowEngine<string, PageEvent, SessionAggregate> =>
  makeWindowEngine({
    assigner: tumbling(HOUR_MS),
    aggregator: sessionAggregator,
    outOfOrdernessMs: settings.outOfOrdernessSeconds * 1_000,
    idleTimeoutMs: settings.idleTimeoutSeconds * 1_000
  })

export default definePipeline({
  name: "session-features",
  input: "page-events",
  description: "Page events → per user, 1-hour windows: events, views, carts, purchases, revenue → feature group",
  settings: sessionSettings,
  sourceTopics: (settings) => [settings.topic],
  jobs: (settings) =>
    Effect.gen(function*() {
      const sink = yield* featureGroup(settings)
      const stats = yield* (yield* PipelineRegistry).register("session-features")
      return [windowedJob({
        name: "session-features",
        source: { groupId: settings.groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
        decode: jsonBatchDecoder(PageEvent),
        windows: {
          engine: makeSessionEngine(settings),
          toWindowRecord: (event, record) => ({
            offset: Number(record.offset),
            eventTime: event.event_time,
            key: event.user_id,
            value: event
          }),
          lateTopic: Option.getOrUndefined(settings.lateRecordsTopic)
        },
        output: {
          _tag: "AtLeastOnce",
          write: (fired) => {
            const rows = fired.map((f) => toSessionRow(f.key, f.window.start, f.result))
            return sink.write(rows).pipe(
              Effect.andThen(stats.tallyAll("users by purchases per hour", rows, (r) => String(r.purchases))),
              Effect.as(rows)
            )
          }
        }
      })]
    }),
  simulate: (settings, simulator) =>
    Effect.sync(() => ({
      topic: settings.topic,
      ratePerSecond: simulator.ratePerSecond,
      batch: makeSimulator({ seed: simulator.seed, malformedShare: simulator.malformedShare })
    })),
  setup: (settings) => Effect.asVoid(featureGroup(settings))
})
