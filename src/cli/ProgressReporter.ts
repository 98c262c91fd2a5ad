import { Effect, Schedule } from "effect"
import { OnlineTables } from "../hopsworks/LocalFeatureStore.ts"
import { PipelineRegistry } from "../observability/PipelineStats.ts"

/** Prints, every few seconds, what each pipeline did and the newest rows of the online tables. */
export const reportProgress = Effect.gen(function*() {
  const registry = yield* PipelineRegistry
  const online = yield* OnlineTables
  const report = Effect.gen(function*() {
    for (const p of yield* registry.all) {
      yield* Effect.logInfo(
        `${p.name}: ${p.recordsIn} in, ${p.recordsOut} written, ${p.deadLettered} dead-lettered, ` +
          `${p.dropped} dropped, ${p.late} late, ${p.commits} commits`
      )
    }
    for (const t of yield* online.tables) {
      const newest = [...t.rows.values()].slice(-3)
      yield* Effect.logInfo(
        `online table ${t.featureGroup.name}_${t.featureGroup.version}: ${t.rows.size} rows; newest: ` +
          newest.map((r) => JSON.stringify(r, (_, v) => typeof v === "bigint" ? Number(v) : v)).join(" ")
      )
    }
  })
  yield* report.pipe(Effect.repeat(Schedule.spaced("3 seconds")))
})
