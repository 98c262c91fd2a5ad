import { Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { materializeFeatureGroup } from "../pipelines/card-aggregates/index.ts"
import { appLayer } from "./AppLayer.ts"

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
