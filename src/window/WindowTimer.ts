/**
 * The only Effect-aware part of the window engine: it reads processing time from `Clock` (so tests
 * drive it with `TestClock`) and hands it to the pure engine. No services, no I/O.
 */
import { Clock, Duration, Effect } from "effect"
import type { ProcessResult, WindowEngine, WindowRecord } from "./WindowEngine.ts"

/** Process one batch at the current processing time. */
export const processBatch = <K, V, Out>(
  engine: WindowEngine<K, V, Out>,
  partition: number,
  batch: ReadonlyArray<WindowRecord<K, V>>
): Effect.Effect<ProcessResult<K, Out, WindowRecord<K, V>>> =>
  Effect.map(Clock.currentTimeMillis, (now) => engine.process(partition, batch, now))

/** Feed the current processing time once (idle detection may advance the watermark). */
export const tick = <K, V, Out>(
  engine: WindowEngine<K, V, Out>
): Effect.Effect<ProcessResult<K, Out, WindowRecord<K, V>>> =>
  Effect.map(Clock.currentTimeMillis, (now) => engine.onProcessingTime(now))

/**
 * Tick every `interval` forever and pass non-empty results to `onResult` (fork it next to the
 * consumer). Without ticks, windows of a partition that went quiet would only fire when another
 * batch arrives.
 */
export const runTimer = <K, V, Out, E, R>(
  engine: WindowEngine<K, V, Out>,
  interval: Duration.Input,
  onResult: (result: ProcessResult<K, Out, WindowRecord<K, V>>) => Effect.Effect<void, E, R>
): Effect.Effect<never, E, R> =>
  Effect.forever(
    Effect.andThen(
      Effect.sleep(interval),
      Effect.flatMap(tick(engine), (result) => (result.fired.length === 0 ? Effect.void : onResult(result)))
    )
  )

/** Convenience for configuration in milliseconds. */
export const millis = (ms: number): Duration.Duration => Duration.millis(ms)
