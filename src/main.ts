#!/usr/bin/env node
// The built-in pipelines through the public app entry, as any user's list of pipelines would be run.
import { saveFingerprintsCommand } from "./cli/SaveFingerprintsCommand.ts"
import { runApp } from "./index.ts"
import { builtInPipelines } from "./pipelines/Pipelines.ts"

runApp({ pipelines: builtInPipelines, commands: [saveFingerprintsCommand] })
