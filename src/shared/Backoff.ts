import { Schedule } from "effect"

/**
 * Retry policy for transport failures (broker down, HTTP 5xx): exponential from 200 ms, capped at 5 s
 * between attempts, forever unless the caller bounds it. Data is never skipped to make progress.
 */
export const transientBackoff = Schedule.min([Schedule.exponential("200 millis", 1.5), Schedule.spaced("5 seconds")])
