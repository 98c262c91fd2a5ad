import { Clock, Effect, Option, Stdio, Stream } from "effect"
import { simulatorProgressIntervalMs } from "../config/SimulatorConfig.ts"
import { KafkaSink } from "../kafka/KafkaSink.ts"

/** `1m28s`, `42s`, `2h05m`. */
export const formatDuration = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

const count = (n: number) => n.toLocaleString("en-US")

/**
 * One progress line: records published (of how many, when the run is bounded), the rate over the
 * last period, and the time left at the average rate so far.
 */
export const progressLine = (progress: {
  readonly input: string
  readonly published: number
  readonly total: Option.Option<number>
  readonly recentPerSecond: number
  readonly elapsedMs: number
}): string => {
  const { elapsedMs, input, published, recentPerSecond, total } = progress
  const rate = `${count(Math.round(recentPerSecond))}/s`
  if (Option.isNone(total)) return `${input}: ${count(published)} records published, ${rate}`
  const percent = total.value === 0 ? 100 : Math.floor((published / total.value) * 100)
  const average = elapsedMs > 0 ? published / elapsedMs : 0
  const eta = published >= total.value
    ? "done"
    : average > 0
    ? `ETA ${formatDuration((total.value - published) / average)}`
    : "ETA unknown"
  return `${input}: ${count(published)} / ${count(total.value)} records (${percent}%), ${rate}, ${eta}`
}

/** How often the line is redrawn on a terminal. */
const redrawMs = 500

/**
 * Runs `publish` showing its progress: on a terminal (stderr) one line redrawn twice a second;
 * otherwise a log line every SIMULATOR_PROGRESS_SECONDS (logs and CI output stay line-based). Counts
 * records as the sink acknowledges them — one addition per produce, nothing per record.
 */
export const withSimulationProgress =
  (input: string, total: Option.Option<number>) => <A, E, R>(publish: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const sink = yield* KafkaSink
      const stdio = yield* Stdio.Stdio
      const terminal = yield* stdio.stderrIsTerminal
      const intervalMs = terminal ? redrawMs : yield* simulatorProgressIntervalMs
      const startedAt = yield* Clock.currentTimeMillis
      let published = 0
      let last = { at: startedAt, published: 0 }

      /** The line; the final one gives the average rate of the whole run. */
      const line = (final: boolean) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const since = final ? { at: startedAt, published: 0 } : last
          const recentPerSecond = now > since.at ? ((published - since.published) * 1000) / (now - since.at) : 0
          last = { at: now, published }
          return progressLine({ input, published, total, recentPerSecond, elapsedMs: now - startedAt })
        })
      const toStderr = (text: string) => Stream.run(Stream.make(text), stdio.stderr())
      // `\r` + erase-line: the terminal shows one line that changes in place.
      const show = (final: boolean) =>
        terminal
          ? Effect.flatMap(line(final), (text) => Effect.ignore(toStderr(`\r\x1b[K${text}`)))
          : Effect.flatMap(line(final), (text) => Effect.logInfo(text))

      const counting = KafkaSink.of({
        ...sink,
        send: (records) => Effect.tap(sink.send(records), () => Effect.sync(() => (published += records.length)))
      })
      return yield* publish.pipe(
        Effect.provideService(KafkaSink, counting),
        Effect.raceFirst(Effect.andThen(Effect.sleep(intervalMs), show(false)).pipe(Effect.forever)),
        // The final figures; on a terminal the line is then ended so the next output starts below it.
        Effect.ensuring(terminal ? Effect.andThen(show(true), Effect.ignore(toStderr("\n"))) : show(true))
      ) as Effect.Effect<A, E, R>
    })
