import { Context, Effect, Layer, Metric } from "effect"

const recordsIn = Metric.counter("tributary_records_in_total", { description: "Records consumed", incremental: true })
const recordsOut = Metric.counter("tributary_records_out_total", {
  description: "Rows or records written and acknowledged by a sink",
  incremental: true
})
const deadLetters = Metric.counter("tributary_dead_letters_total", {
  description: "Malformed records sent to the dead-letter topic or dropped",
  incremental: true
})
const lateRecords = Metric.counter("tributary_late_records_total", {
  description: "Records later than the allowed lateness",
  incremental: true
})

/**
 * Live figures of one running pipeline: plain numbers for the dashboard, tests and the demo's
 * progress line, mirrored into Effect metrics for the Prometheus endpoint.
 */
export class PipelineStats {
  readonly name: string
  recordsIn = 0
  recordsOut = 0
  deadLettered = 0
  dropped = 0
  late = 0
  commits = 0
  lastCommitAt: number | undefined
  watermark: number | undefined
  readonly assigned = new Set<string>()
  /** The newest output rows, newest last, for display. */
  readonly latest: Array<Record<string, unknown>> = []
  private readonly attributes: Record<string, string>

  constructor(name: string) {
    this.name = name
    this.attributes = { pipeline: name }
  }

  consumed(n: number) {
    this.recordsIn += n
    return Metric.update(Metric.withAttributes(recordsIn, this.attributes), n)
  }

  written(rows: ReadonlyArray<Record<string, unknown>>) {
    this.recordsOut += rows.length
    for (const row of rows.slice(-10)) this.latest.push(row)
    if (this.latest.length > 10) this.latest.splice(0, this.latest.length - 10)
    return Metric.update(Metric.withAttributes(recordsOut, this.attributes), rows.length)
  }

  rejected(n: number, policy: "dead-letter" | "drop") {
    if (policy === "drop") this.dropped += n
    else this.deadLettered += n
    return Metric.update(Metric.withAttributes(deadLetters, { ...this.attributes, policy }), n)
  }

  lateArrivals(n: number) {
    this.late += n
    return Metric.update(Metric.withAttributes(lateRecords, this.attributes), n)
  }
}

/** Every pipeline running in this process, by name. */
export class PipelineRegistry extends Context.Service<PipelineRegistry, {
  readonly register: (name: string) => Effect.Effect<PipelineStats>
  readonly all: Effect.Effect<ReadonlyArray<PipelineStats>>
}>()("tributary/observability/PipelineRegistry") {
  static readonly layer = Layer.sync(PipelineRegistry, () => {
    const pipelines = new Map<string, PipelineStats>()
    return PipelineRegistry.of({
      register: (name) =>
        Effect.sync(() => {
          const stats = pipelines.get(name) ?? new PipelineStats(name)
          pipelines.set(name, stats)
          return stats
        }),
      all: Effect.sync(() => [...pipelines.values()])
    })
  })
}
