import { Effect, Layer } from "effect"
import { Command, Flag } from "effect/cli"
import { kafkaFromConfig } from "../kafka/KafkaLayer.ts"
import { PipelineRegistry } from "../observability/PipelineStats.ts"
import { saveFingerprints } from "../pipelines/fingerprint/FingerprintSaver.ts"

export const saveFingerprintsCommand = Command.make(
  "save-fingerprints",
  { out: Flag.String("out").pipe(Flag.withDefault("./output"), Flag.withDescription("Folder for the files")) },
  ({ out }) =>
    saveFingerprints({ outDir: out }).pipe(
      Effect.scoped,
      Effect.andThen((saved) => Effect.logInfo(`saved ${saved} fingerprint files to ${out}`)),
      Effect.provide(Layer.merge(kafkaFromConfig, PipelineRegistry.layer))
    )
).pipe(
  Command.withDescription(
    "Write each fingerprint on FINGERPRINT_TOPIC, with its window's input readings, to {id}_{start}_{end}.json (idempotent)"
  )
)
