import { Config, Effect, Schema } from "effect"
import {
  Aggregator,
  definePipeline,
  FeatureStore,
  jsonBatchDecoder,
  makeWindowEngine,
  sourceSettings,
  tumbling,
  windowedJob
} from "tributary"

const View = Schema.Struct({ user_id: Schema.String, at: Schema.Int, page: Schema.String })
const viewJson = (user: string, at: number) => JSON.stringify({ user_id: user, at, page: "/" })

export default definePipeline({
  name: "views-per-hour",
  input: "views",
  description: "Page views → per user and event-time hour, how many → feature group views_1h",
  settings: Config.all(sourceSettings(["VIEWS_TOPIC", "views"], ["VIEWS_GROUP_ID", "views-per-hour"])),
  sourceTopics: (s) => [s.topic],
  jobs: (s) =>
    Effect.gen(function*() {
      const fg = yield* Effect.flatMap(FeatureStore, (store) =>
        store.featureGroup({
          name: "views_1h",
          version: 1,
          primaryKey: ["user_id"],
          eventTime: "hour",
          features: [
            { name: "user_id", type: "string" },
            { name: "hour", type: "bigint" },
            { name: "views", type: "bigint" }
          ]
        }))
      return [windowedJob({
        name: "views-per-hour",
        source: { groupId: s.groupId, topics: [s.topic], deadLetters: s.deadLetters },
        decode: jsonBatchDecoder(View),
        windows: {
          engine: makeWindowEngine({
            assigner: tumbling(3_600_000),
            aggregator: Aggregator.count,
            outOfOrdernessMs: 60_000
          }),
          toWindowRecord: (view, record) => ({
            offset: Number(record.offset),
            eventTime: view.at,
            key: view.user_id,
            value: view
          })
        },
        output: {
          _tag: "AtLeastOnce",
          write: (fired) => {
            const rows = fired.map((f) => ({ user_id: f.key, hour: f.window.start, views: f.result }))
            return Effect.as(fg.write(rows), rows)
          }
        }
      })]
    }),
  simulate: (s, sim) =>
    Effect.succeed({
      topic: s.topic,
      ratePerSecond: sim.ratePerSecond,
      batch: (n, now) => Array.from({ length: n }, (_, i) => ({ key: `u${i % 5}`, value: viewJson(`u${i % 5}`, now) }))
    })
})
