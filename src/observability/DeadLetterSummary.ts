import { Clock, Context, Effect, Schedule } from "effect"

/**
 * Rejected records (dead-lettered or dropped) summed up for the log: one line per pipeline per
 * interval, with counts by reason and a first example, instead of a warning per batch. The first
 * rejection after a quiet interval is reported within a second; later ones wait for the interval to end.
 */

/** A reason's kind: the part before its first colon (`not JSON`, `currency`, `rejected by the sink`...). */
export const reasonKind = (reason: string): string => {
  const colon = reason.indexOf(":")
  const kind = (colon < 0 ? reason : reason.slice(0, colon)).trim()
  return kind.length > 60 ? `${kind.slice(0, 60)}…` : kind
}

/** How much of the first example's reason a line keeps (a reason may quote the input). */
const exampleLength = 200

interface Rejection {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly reason: string
}

/** Where rejected records went: `dead-letter` to a topic, or `drop`ped. */
export type RejectedTo = { readonly _tag: "DeadLetter"; readonly topic: string } | { readonly _tag: "Drop" }

export class DeadLetterSummary {
  private readonly byKind = new Map<string, number>()
  private count = 0
  private first: Rejection | undefined
  private to: RejectedTo | undefined
  private lastLineAt: number | undefined

  private readonly pipeline: string

  constructor(pipeline: string) {
    this.pipeline = pipeline
  }

  /** Counts a batch's rejected records (a loop over the rejected ones only). */
  add(rejected: ReadonlyArray<Rejection>, to: RejectedTo): void {
    for (const r of rejected) {
      const kind = reasonKind(r.reason)
      this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1)
    }
    if (this.count === 0) this.first = rejected[0]
    this.count += rejected.length
    this.to = to
  }

  /** Whether a line is due: something to say, and no line within the last `intervalMs`. */
  due(now: number, intervalMs: number): boolean {
    return this.count > 0 && (this.lastLineAt === undefined || now - this.lastLineAt >= intervalMs)
  }

  /** The line for what was counted since the last one (then starts over); undefined when nothing was. */
  take(now: number): string | undefined {
    if (this.count === 0 || this.first === undefined || this.to === undefined) return undefined
    const period = this.lastLineAt === undefined ? "" : ` in the last ${Math.round((now - this.lastLineAt) / 1000)}s`
    const what = this.to._tag === "Drop" ? "dropped" : `dead-lettered to ${this.to.topic}`
    const kinds = [...this.byKind].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ×${n}`).join(", ")
    const { offset, partition, reason, topic } = this.first
    const example = reason.length > exampleLength ? `${reason.slice(0, exampleLength)}…` : reason
    const line = `${this.pipeline}: ${this.count} malformed record(s) ${what}${period} ` +
      `(${kinds}); first: ${topic}:${partition}@${offset}: ${example}`
    this.byKind.clear()
    this.count = 0
    this.first = undefined
    this.lastLineAt = now
    return line
  }
}

/** The interval of summary lines (LOG_SUMMARY_INTERVAL_SECONDS; provided with the logger). */
export const LogSummaryInterval = Context.Reference<number>(
  "tributary/observability/DeadLetterSummary/LogSummaryInterval",
  {
    defaultValue: () => 30_000
  }
)

const logLine = (pipeline: string, line: string | undefined) =>
  line === undefined ? Effect.void : Effect.logWarning(line).pipe(Effect.annotateLogs({ pipeline }))

/**
 * Adds a batch's rejected records to the pipeline's summary. The line itself comes from
 * `reportSummaries` (within a second when due), outside the batch: a summary is about no one partition.
 */
export const summariseRejected = (
  summary: DeadLetterSummary,
  rejected: ReadonlyArray<Rejection>,
  to: RejectedTo
): Effect.Effect<void> => Effect.sync(() => summary.add(rejected, to))

/** Every interval, the pending summary of each pipeline; what is left when the scope closes. */
export const reportSummaries = (
  pipelines: Effect.Effect<ReadonlyArray<{ readonly name: string; readonly deadLetterSummary: DeadLetterSummary }>>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const intervalMs = yield* LogSummaryInterval
    const flush = (force: boolean) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        for (const p of yield* pipelines) {
          if (force || p.deadLetterSummary.due(now, intervalMs)) yield* logLine(p.name, p.deadLetterSummary.take(now))
        }
      })
    yield* flush(false).pipe(
      // Checked every second at most, so a line comes out close to its interval's end.
      Effect.repeat(Schedule.spaced(`${Math.min(intervalMs, 1_000)} millis`)),
      Effect.ensuring(flush(true))
    )
  })
