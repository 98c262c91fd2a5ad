import { Effect } from "effect"
import { userEventsSettings } from "../../config/UserEventsConfig.ts"
import { publishAtRate } from "../../simulator/Publisher.ts"
import { UserEventsSimulator } from "../../simulator/UserEventsSimulator.ts"
import type { PipelineDefinition } from "../PipelineDefinition.ts"
import { runUserEventsPipeline, setupCassandra, userEventsSinkLayer } from "./UserEventsPipeline.ts"

export { setupCassandra } from "./UserEventsPipeline.ts"

export const userEventsPipeline: PipelineDefinition = {
  name: "user-events",
  input: "user-events",
  description: "UserEvent JSON → bucketed by UTC day (or hour) → Cassandra event_streaming.user_events (seed 004)",
  sourceTopics: Effect.map(userEventsSettings, (s) => [s.topic]),
  run: Effect.gen(function*() {
    const settings = yield* userEventsSettings
    // The pipeline builds its own store (PipelineDefinition): connected for as long as it runs.
    return yield* runUserEventsPipeline(settings).pipe(Effect.provide(userEventsSinkLayer(settings)))
  }),
  simulate: (sim) =>
    Effect.gen(function*() {
      const { topic } = yield* userEventsSettings
      const simulator = new UserEventsSimulator(sim.seed, sim.malformedShare)
      return yield* publishAtRate({
        ratePerSecond: sim.ratePerSecond,
        count: sim.count,
        make: (n, now) => simulator.batch(n, now).map((r) => ({ topic, key: r.key, value: r.value }))
      })
    }),
  setup: setupCassandra
}
