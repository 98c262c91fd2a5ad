import { Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { FeatureStore } from "../hopsworks/FeatureStore.ts"
import { appLayer } from "./AppLayer.ts"

/**
 * `materialize <fg> [version]`: starts the offline materialization job
 * `<fg>_<version>_offline_fg_materialization` (the seed's "backfill"; the client falls back to the
 * pre-3.4 `_offline_fg_backfill` name) and returns the execution. With the local emulator there is
 * no offline store: the execution is reported FINISHED for a known feature group, FAILED otherwise.
 */
export const materializeFeatureGroup = Effect.fn("Materialize.featureGroup")(
  function*(name: string, version: number) {
    const store = yield* FeatureStore
    const execution = yield* store.materialize(name, version)
    yield* Effect.logInfo(
      `started ${execution.jobName}: execution ${execution.executionId}, state ${execution.state}`
    )
    return execution
  }
)

export const materializeCommand = Command.make(
  "materialize",
  {
    featureGroup: Argument.String("feature-group"),
    version: Flag.Int("version").pipe(Flag.withDefault(1))
  },
  ({ featureGroup, version }) => materializeFeatureGroup(featureGroup, version).pipe(Effect.provide(appLayer))
).pipe(
  Command.withDescription(
    "Start the offline materialization job <fg>_<version>_offline_fg_materialization (the seed's backfill)"
  )
)
