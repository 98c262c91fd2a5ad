import { Effect, Schedule } from "effect"

/**
 * What a failure means for retrying it:
 * - `transient` (an outage, a timeout, a broker moving a partition) may succeed later: retried with backoff;
 * - `rejected`: the data is at fault (a value the sink cannot store): retrying the same data cannot help;
 *   the runner finds the records at fault, dead-letters them and writes the rest;
 * - `permanent`: neither (bad credentials, a missing table): handed back at once; the runner stops.
 */
export type FailureKind = "transient" | "rejected" | "permanent"

export type Classifier<E> = (error: E) => FailureKind

/** For failures that are all transport failures (a produce to Kafka, a commit). */
export const allTransient: Classifier<unknown> = () => "transient"

/**
 * Delays between attempts: exponential from 200 ms, capped at 5 s, each delay jittered by ±20 % so
 * that replicas retrying the same outage do not hit the recovering service in lockstep.
 */
export const transientBackoff = Schedule.min([Schedule.exponential("200 millis", 1.5), Schedule.spaced("5 seconds")])
  .pipe(Schedule.jittered)

export interface RetryPolicy<E> {
  /** Decides, per failure, whether it is worth another attempt. */
  readonly classify: Classifier<E>
  /** At most this many retries; unbounded when missing (progress waits, data is kept). */
  readonly times?: number | undefined
  /** Runs before each retry of a transient failure: log it, count it. */
  readonly onRetry?: ((error: E) => Effect.Effect<void>) | undefined
  /** Delays between attempts (default `transientBackoff`). */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Retries transient failures with backoff; a permanent failure (and the last transient one once
 * `times` retries are used up) fails the effect with the original error.
 */
export const retryWith =
  <E>(policy: RetryPolicy<E>) => <A, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.tapError((e) =>
        policy.onRetry !== undefined && policy.classify(e) === "transient" ? policy.onRetry(e) : Effect.void
      ),
      Effect.retry({
        schedule: policy.schedule ?? transientBackoff,
        while: (e: E) => policy.classify(e) === "transient",
        ...(policy.times === undefined ? {} : { times: policy.times })
      })
    )

/** The message of any failure, for a log line. */
export const errorText = (e: unknown): string =>
  e instanceof Error || (typeof e === "object" && e !== null && "message" in e)
    ? String((e as { message: unknown }).message)
    : String(e)

/** The `_tag` of a tagged error (for counting failures by type), `Error` otherwise. */
export const errorType = (e: unknown): string =>
  typeof e === "object" && e !== null && "_tag" in e ? String((e as { _tag: unknown })._tag) : "Error"
