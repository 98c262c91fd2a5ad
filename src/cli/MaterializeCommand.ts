import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { FeatureStore } from "../hopsworks/FeatureStore.ts"
import type { MaterializationOptions } from "../hopsworks/HopsworksClient.ts"
import { appLayer } from "./AppLayer.ts"

/**
 * `materialize <fg> [version]`: starts the offline materialization job
 * `<fg>_<version>_offline_fg_materialization` (the seed's "backfill"; the client falls back to the
 * pre-3.4 `_offline_fg_backfill` name) and returns the execution. It refuses, with the running
 * execution named and a non-zero exit, while an execution of the job has not finished. With the local
 * emulator there is no offline store: the execution is reported FINISHED for a known feature group,
 * FAILED otherwise.
 */
export const materializeFeatureGroup = Effect.fn("Materialize.featureGroup")(
  function*(name: string, version: number, options: MaterializationOptions = {}) {
    const store = yield* FeatureStore
    const execution = yield* store.materialize(name, version, options)
    yield* Effect.logInfo(
      `started ${execution.jobName}: execution ${execution.executionId}, state ${execution.state}`
    )
    return execution
  }
)

/** `0:120,1:80` (partition:offset, comma-separated) into the checkpoint; throws with what is wrong. */
export const parseCheckpoint = (text: string): NonNullable<MaterializationOptions["initialCheckpoint"]> => {
  const entries = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  if (entries.length === 0) throw new Error("expected partition:offset pairs, e.g. 0:120,1:80")
  const seen = new Set<number>()
  return entries.map((entry) => {
    const m = /^(\d+):(\d+)$/.exec(entry)
    if (m === null) throw new Error(`"${entry}" is not partition:offset (e.g. 0:120)`)
    const partition = Number(m[1])
    const offset = Number(m[2])
    if (!Number.isSafeInteger(offset)) throw new Error(`offset ${m[2]} is too large`)
    if (seen.has(partition)) throw new Error(`partition ${partition} is given twice`)
    seen.add(partition)
    return { partition, offset }
  })
}

export const materializeCommand = Command.make(
  "materialize",
  {
    featureGroup: Argument.String("feature-group").pipe(
      Argument.withDescription("Feature group name, e.g. card_transactions_10m_agg")
    ),
    // Not `--version`: that is the global flag printing Tributary's version (the old spelling is
    // still accepted, see legacyArguments in Cli.ts).
    version: Flag.Int("fg-version").pipe(
      Flag.withDescription("Feature group version (default 1)"),
      Flag.withDefault(1)
    ),
    checkpoint: Flag.String("checkpoint").pipe(
      Flag.mapTryCatch(parseCheckpoint, (e) => `--checkpoint: ${e instanceof Error ? e.message : String(e)}`),
      Flag.withDescription(
        "partition:offset,... of the feature group's topic to start reading at (passed to the job as " +
          "-initialCheckPointString after its default arguments); without it the job resumes where it stopped"
      ),
      Flag.optional
    )
  },
  ({ checkpoint, featureGroup, version }) =>
    materializeFeatureGroup(featureGroup, version, { initialCheckpoint: Option.getOrUndefined(checkpoint) }).pipe(
      Effect.provide(appLayer)
    )
).pipe(
  Command.withDescription(
    "Start the offline materialization job <fg>_<version>_offline_fg_materialization (the seed's backfill), " +
      "unless one is running"
  )
)
