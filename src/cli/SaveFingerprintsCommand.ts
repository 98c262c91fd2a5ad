import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { saveFingerprints } from "../pipelines/fingerprint/index.ts"

export const saveFingerprintsCommand = Command.make(
  "save-fingerprints",
  { out: Flag.String("out").pipe(Flag.withDefault("./output"), Flag.withDescription("Folder for the files")) },
  ({ out }) =>
    saveFingerprints({ outDir: out }).pipe(
      Effect.scoped,
      Effect.andThen((saved) => Effect.logInfo(`saved ${saved} fingerprint files to ${out}`)),
      Effect.provide(kafkaFromConfig)
    )
).pipe(
  Command.withDescription(
    "Write each fingerprint on FINGERPRINT_TOPIC, with its window's input readings, to {id}_{start}_{end}.json (idempotent)"
  )
)
