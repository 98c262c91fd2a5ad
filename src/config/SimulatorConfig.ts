import { Config, Option, Schema } from "effect"

/** Data generators (`simulate ...`). The rate is records per second; PUBLISH_INTERVAL_SEC is the seed's knob. */
export const simulatorSettings = Config.all({
  seed: Config.Int("SIMULATOR_SEED").pipe(Config.withDefault(42)),
  publishIntervalSec: Config.Number("PUBLISH_INTERVAL_SEC").pipe(Config.withDefault(1)),
  rate: Config.option(Config.Number("SIMULATOR_RATE")),
  count: Config.option(Config.Int("SIMULATOR_COUNT")),
  malformedShare: Config.Number("SIMULATOR_MALFORMED_SHARE").pipe(Config.withDefault(0))
}).pipe(Config.map((s) => ({
  seed: s.seed,
  count: s.count,
  malformedShare: s.malformedShare,
  ratePerSecond: Option.getOrElse(s.rate, () => 1 / s.publishIntervalSec)
})))
export type SimulatorSettings = Config.Success<typeof simulatorSettings>

/** `simulate` on a terminal redraws one progress line; otherwise (a log file, CI) it logs one every this often. */
export const simulatorProgressIntervalMs = Config.schema(
  Schema.Finite.check(Schema.isGreaterThan(0)),
  "SIMULATOR_PROGRESS_SECONDS"
).pipe(Config.withDefault(10), Config.map((s) => Math.round(s * 1000)))
