import { Clock, Context, Effect } from "effect"
import { type LogEntry, logLevel } from "kafkajs"
import { createRequire } from "node:module"
import { LogSummaryInterval } from "./DeadLetterSummary.ts"

/**
 * kafkajs logs, at ERROR, responses the service goes on to handle: a topic being auto-created has
 * no leader yet, a partition is moving, a coordinator is loading... kafkajs retries those itself (and
 * the runner after it). They go to the debug log; if they persist longer than the summary interval,
 * one warning per interval says how many, of which kinds. Anything else keeps its level.
 */

interface ProtocolError {
  readonly type: string
  readonly retriable: boolean
  readonly message: string
}

/**
 * kafkajs' own table of broker error codes (it is not exported by name, but stable: kafkajs 2.x).
 * Missing, nothing is treated as handled and every log keeps its level.
 */
const protocolErrors = (): ReadonlyArray<ProtocolError> => {
  try {
    const table = createRequire(import.meta.url)("kafkajs/src/protocol/error.js") as {
      readonly errorCodes?: ReadonlyArray<ProtocolError>
    }
    return table.errorCodes ?? []
  } catch {
    return []
  }
}

/** Error messages kafkajs logs that the service handles, by message, with their protocol name. */
const handledMessages = new Map(
  protocolErrors()
    // Retriable: kafkajs retries them. TOPIC_ALREADY_EXISTS: a topic another process created first.
    .filter((e) => e.retriable || e.type === "TOPIC_ALREADY_EXISTS")
    .map((e) => [e.message, e.type] as const)
)

/** The protocol name of a handled error (e.g. LEADER_NOT_AVAILABLE), or undefined. */
export const handledErrorType = (error: unknown): string | undefined =>
  typeof error === "string" ? handledMessages.get(error) : undefined

/**
 * kafkajs' lines about a broker it cannot reach (it retries, then the service does): two per
 * attempt. The first of a streak is worth a warning at once (a wrong address, a broker down); the
 * rest go to debug and the periodic summary.
 */
export const isConnectionError = (text: string): boolean =>
  /Connection error|Connection timeout|Failed to connect to seed broker/.test(text)

/**
 * Counts handled errors and says when a warning is due: a streak of them (no gap longer than the
 * interval) that has lasted at least the interval, at most one warning per interval.
 */
export class HandledErrors {
  private readonly byType = new Map<string, number>()
  private streakStart: number | undefined
  private lastAt: number | undefined
  private lastWarnAt: number | undefined
  private readonly intervalMs: number

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs
  }

  /**
   * Counts one; returns the warning line when one is due. `announce`: the first of a streak is
   * reported at once (as `first`, the client's own words).
   */
  record(type: string, now: number, announce?: { readonly first: string }): string | undefined {
    if (this.lastAt === undefined || now - this.lastAt > this.intervalMs) {
      this.streakStart = now
      this.byType.clear()
      if (announce !== undefined) {
        this.lastAt = now
        this.lastWarnAt = now
        this.byType.set(type, 1)
        return `Kafka client: ${announce.first}; retrying (more of these at debug level, summed up every ` +
          `${Math.round(this.intervalMs / 1000)}s while they last)`
      }
    }
    this.lastAt = now
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1)
    const persisted = now - (this.streakStart ?? now) >= this.intervalMs
    if (!persisted || (this.lastWarnAt !== undefined && now - this.lastWarnAt < this.intervalMs)) return undefined
    const total = [...this.byType.values()].reduce((a, b) => a + b, 0)
    const kinds = [...this.byType].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ×${n}`).join(", ")
    const seconds = Math.round((now - (this.lastWarnAt ?? this.streakStart ?? now)) / 1000)
    this.lastWarnAt = now
    this.byType.clear()
    return `Kafka client: ${total} error(s) retried in the last ${seconds}s (${kinds}); still retrying`
  }
}

/** A kafkajs `logCreator` that logs through Effect's logger (same format, annotated `component: kafkajs`). */
export const kafkajsLogCreator = (context: Context.Context<never>) => () => {
  const handled = new HandledErrors(Context.get(context, LogSummaryInterval))
  const run = Effect.runForkWith(context)
  const clock = Context.get(context, Clock.Clock)
  return ({ level, log }: LogEntry): void => {
    const { error, logger, message } = log as { error?: unknown; logger?: unknown; message: string }
    const detail = `${message}${error === undefined ? "" : `: ${String(error)}`}`
    const text = `kafkajs ${String(logger ?? "")}: ${detail}`
    const connection = level <= logLevel.WARN && isConnectionError(detail)
    const type = level > logLevel.WARN ? undefined : connection ? "CONNECTION" : handledErrorType(error)
    let effect: Effect.Effect<void>
    if (type !== undefined) {
      const now = clock.currentTimeMillisUnsafe()
      const summary = handled.record(type, now, connection ? { first: detail } : undefined)
      effect = summary === undefined
        ? Effect.logDebug(text)
        : Effect.andThen(Effect.logDebug(text), Effect.logWarning(summary))
    } else {
      effect = level <= logLevel.ERROR ? Effect.logError(text) : Effect.logWarning(text)
    }
    run(effect.pipe(Effect.annotateLogs({ component: "kafkajs" })))
  }
}
