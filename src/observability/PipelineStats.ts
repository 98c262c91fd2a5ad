import { Clock, Context, Effect, Layer, Metric } from "effect"
import type { SourceConnection } from "../kafka/KafkaSource.ts"
import { DeadLetterSummary, reportSummaries } from "./DeadLetterSummary.ts"
import { maskCardNumbers } from "./RowPreview.ts"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const recordsIn = counter("tributary_records_in_total", "Records consumed")
const recordsOut = counter("tributary_records_out_total", "Rows or records written and acknowledged by a sink")
const deadLetters = counter(
  "tributary_dead_letters_total",
  "Malformed records sent to the dead-letter topic or dropped"
)
const lateRecords = counter("tributary_late_records_total", "Records later than the allowed lateness")
const partitionRecordsIn = counter("tributary_partition_records_in_total", "Records consumed, per source partition")
const partitionRecordsOut = counter(
  "tributary_partition_records_out_total",
  "Rows written, per source partition (where a row has one source partition)"
)
const sinkLatency = Metric.histogram("tributary_sink_latency_seconds", {
  description: "Time from handing a batch to a sink until it is acknowledged (retries included)",
  boundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
})
const commitLatency = Metric.histogram("tributary_commit_latency_seconds", {
  description: "Time to commit consumed offsets (or the transaction carrying them)",
  boundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})
const rebalances = counter(
  "tributary_rebalances_total",
  "Partition assignment changes seen by a pipeline (kind: assigned | revoked)"
)
const errors = counter("tributary_errors_total", "Errors by type (retried transport failures, failed commits, ...)")

/** Where a batch came from: the partition and the last offset in it. */
interface BatchPosition {
  readonly topic: string
  readonly partition: number
  /** The batch's last offset (decimal string). */
  readonly lastOffset?: string | undefined
}

/** Figures of one source partition. Lag and the high watermark are filled in by the health monitor. */
interface PartitionFigures {
  readonly topic: string
  readonly partition: number
  recordsIn: number
  recordsOut: number
  /** Last offset consumed. */
  lastOffset: string | undefined
  /** Offset the pipeline last committed (next offset to read). */
  committedOffset: string | undefined
  /** Event-time watermark of this partition (epoch ms), for windowed pipelines. */
  watermark: number | undefined
  lastRecordAt: number | undefined
}

/** The pipeline drawn as a graph: source topics → stages → sinks. */
export interface Topology {
  readonly sources: ReadonlyArray<string>
  readonly stages: ReadonlyArray<string>
  readonly sinks: ReadonlyArray<string>
  /** The feature group whose online rows the dashboard shows with this pipeline (default: the pipeline's name). */
  readonly featureGroup?: string | undefined
}

/** The consumer group behind a pipeline, for lag, and its kafkajs connection (undefined in memory). */
interface SourceInfo {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  readonly connection?: SourceConnection | undefined
}

export interface LatencyFigures {
  count: number
  totalMs: number
  maxMs: number
  lastMs: number
}

const MaxTallyKeys = 200

/**
 * Live figures of one running pipeline: plain numbers for the dashboard, tests and the demo's
 * progress line, mirrored into Effect metrics for the Prometheus endpoint. Runners update it as
 * batches pass; the health monitor reads it (and adds lag, rates, readiness) once a second.
 */
export class PipelineStats {
  readonly name: string
  readonly startedAt: number
  recordsIn = 0
  recordsOut = 0
  deadLettered = 0
  dropped = 0
  late = 0
  commits = 0
  lastCommitAt: number | undefined
  /** Pipeline event-time watermark (epoch ms), for windowed pipelines. */
  watermark: number | undefined
  /** Open (key, window) states and records held in them, for windowed pipelines. */
  openWindows: number | undefined
  stateSize: number | undefined
  /** Processing time of the last batch consumed or output written: what "no progress" is measured against. */
  lastProgressAt: number | undefined
  /** Partitions this process owns, as "topic:partition". */
  readonly assigned = new Set<string>()
  readonly partitions = new Map<string, PartitionFigures>()
  /** The newest output rows, newest last, for display. */
  readonly latest: Array<Record<string, unknown>> = []
  /** Named counts for charts (events per type, sales per category, ...): label → key → value. */
  readonly tallies = new Map<string, Map<string, number>>()
  readonly errorCounts = new Map<string, number>()
  readonly sinkLatencies = new Map<string, LatencyFigures>()
  readonly commitLatency: LatencyFigures = { count: 0, totalMs: 0, maxMs: 0, lastMs: 0 }
  rebalances = 0
  /** Rejected records since the last log line about them. */
  readonly deadLetterSummary: DeadLetterSummary
  topology: Topology | undefined
  source: SourceInfo | undefined
  private readonly attributes: Record<string, string>
  /** The registry's clock: `startedAt` is read in the constructor, and all of a pipeline's times come from one clock. */
  private readonly clock: Clock.Clock

  constructor(name: string, clock: Clock.Clock) {
    this.name = name
    this.clock = clock
    this.startedAt = clock.currentTimeMillisUnsafe()
    this.attributes = { pipeline: name }
    this.deadLetterSummary = new DeadLetterSummary(name)
  }

  // The reporting methods below change the figures when their effect runs, not when it is built,
  // so an effect that is built but never run (or run twice) counts what actually happened.

  /** A batch of `n` records was taken from the source (pass the batch position for per-partition figures). */
  consumed(n: number, from?: BatchPosition): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.recordsIn += n
      this.lastProgressAt = this.clock.currentTimeMillisUnsafe()
      const updates = [Metric.update(Metric.withAttributes(recordsIn, this.attributes), n)]
      if (from !== undefined) {
        const p = this.partition(from)
        p.recordsIn += n
        p.lastRecordAt = this.lastProgressAt
        if (from.lastOffset !== undefined) p.lastOffset = from.lastOffset
        updates.push(Metric.update(Metric.withAttributes(partitionRecordsIn, this.partitionAttributes(from)), n))
      }
      return Effect.all(updates, { discard: true })
    })
  }

  /** Rows a sink acknowledged (pass the source partition when the rows have exactly one). */
  written(rows: ReadonlyArray<Record<string, unknown>>, from?: BatchPosition): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.recordsOut += rows.length
      this.lastProgressAt = this.clock.currentTimeMillisUnsafe()
      for (const row of rows.slice(-10)) this.latest.push(row)
      if (this.latest.length > 10) this.latest.splice(0, this.latest.length - 10)
      const updates = [Metric.update(Metric.withAttributes(recordsOut, this.attributes), rows.length)]
      if (from !== undefined) {
        this.partition(from).recordsOut += rows.length
        updates.push(
          Metric.update(Metric.withAttributes(partitionRecordsOut, this.partitionAttributes(from)), rows.length)
        )
      }
      return Effect.all(updates, { discard: true })
    })
  }

  rejected(n: number, policy: "dead-letter" | "drop"): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (policy === "drop") this.dropped += n
      else this.deadLettered += n
      return Metric.update(Metric.withAttributes(deadLetters, { ...this.attributes, policy }), n)
    })
  }

  lateArrivals(n: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.late += n
      return Metric.update(Metric.withAttributes(lateRecords, this.attributes), n)
    })
  }

  /** Declares the graph the dashboard draws (defaults: the source topics → "process" → "output"). */
  describe(topology: Partial<Topology>): void {
    this.topology = {
      sources: topology.sources ?? this.topology?.sources ?? this.source?.topics ?? [],
      stages: topology.stages ?? this.topology?.stages ?? ["process"],
      sinks: topology.sinks ?? this.topology?.sinks ?? ["output"],
      featureGroup: topology.featureGroup ?? this.topology?.featureGroup
    }
  }

  /** The consumer group (for consumer lag) and, with kafkajs, the connection behind this pipeline. */
  attachSource(source: SourceInfo): void {
    this.source = source
  }

  /** An assignment change: keeps `assigned` and counts rebalances. */
  assignment(
    kind: "Assigned" | "Revoked",
    partitions: ReadonlyArray<{ topic: string; partition: number }>
  ): Effect.Effect<void> {
    return Effect.suspend(() => {
      for (const p of partitions) {
        const key = `${p.topic}:${p.partition}`
        if (kind === "Assigned") {
          this.assigned.add(key)
          this.partition(p)
        } else this.assigned.delete(key)
      }
      this.rebalances++
      return Metric.update(Metric.withAttributes(rebalances, { ...this.attributes, kind: kind.toLowerCase() }), 1)
    })
  }

  /** Runs a sink write and records how long it took to be acknowledged under `sink`. */
  timed<A, E, R>(sink: string, write: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.gen({ self: this }, function*() {
      const start = yield* Clock.currentTimeMillis
      const result = yield* write
      const ms = (yield* Clock.currentTimeMillis) - start
      const figures = this.sinkLatencies.get(sink) ?? { count: 0, totalMs: 0, maxMs: 0, lastMs: 0 }
      this.sinkLatencies.set(sink, record(figures, ms))
      yield* Metric.update(Metric.withAttributes(sinkLatency, { ...this.attributes, sink }), ms / 1000)
      return result
    }).pipe(
      // A child of the runner's `write` span: how long the sink took to acknowledge, retries included.
      Effect.withSpan("sink", { attributes: { "tributary.pipeline": this.name, "tributary.sink": sink } })
    )
  }

  /** Offsets were committed in `durationMs` (counts the commit and records commit latency). */
  committed(
    offsets: ReadonlyArray<{ topic: string; partition: number; offset: string }>,
    durationMs: number
  ): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.commits++
      this.lastCommitAt = this.clock.currentTimeMillisUnsafe()
      for (const o of offsets) this.partition(o).committedOffset = o.offset
      record(this.commitLatency, durationMs)
      return Metric.update(Metric.withAttributes(commitLatency, this.attributes), durationMs / 1000)
    })
  }

  /** Counts an error of the given type (e.g. "sink-retry", "commit", "dead-letter-produce"). */
  failed(type: string, n = 1): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.errorCounts.set(type, (this.errorCounts.get(type) ?? 0) + n)
      return Metric.update(Metric.withAttributes(errors, { ...this.attributes, type }), n)
    })
  }

  /** Window engine figures after a batch or tick (windowed pipelines). */
  windowState(state: {
    readonly openWindows: number
    readonly stateSize: number
    readonly watermark?: number | undefined
    readonly partitionWatermarks?: ReadonlyArray<{ topic: string; partition: number; watermark: number | undefined }>
  }): void {
    this.openWindows = state.openWindows
    this.stateSize = state.stateSize
    if (state.watermark !== undefined) this.watermark = state.watermark
    for (const p of state.partitionWatermarks ?? []) this.partition(p).watermark = p.watermark
  }

  /**
   * Adds `n` to `key` of the chart `label` (e.g. tally("events per type", "click")). Chart keys are shown
   * on `/metrics` and the dashboard: a key that looks like a card number is kept as its last four digits.
   */
  tally(label: string, key: string, n = 1) {
    return Effect.sync(() => addCapped(this.tallyOf(label), key, n))
  }

  /**
   * `tally` for a whole batch in one effect: adds `amount(item)` (default 1) to `key(item)` of the chart
   * `label` for every item (e.g. tallyAll("events per type", rows, (r) => r.event_type)).
   */
  tallyAll<A>(label: string, items: Iterable<A>, key: (item: A) => string, amount?: (item: A) => number) {
    return Effect.sync(() => {
      const t = this.tallyOf(label)
      for (const item of items) addCapped(t, key(item), amount === undefined ? 1 : amount(item))
    })
  }

  /** Sets `key` of the chart `label` to `value` (a latest figure rather than a count). */
  setTally(label: string, key: string, value: number) {
    return Effect.sync(() => setCapped(this.tallyOf(label), maskCardNumbers(key), value))
  }

  partition(tp: { topic: string; partition: number }): PartitionFigures {
    const key = `${tp.topic}:${tp.partition}`
    let p = this.partitions.get(key)
    if (p === undefined) {
      p = {
        topic: tp.topic,
        partition: tp.partition,
        recordsIn: 0,
        recordsOut: 0,
        lastOffset: undefined,
        committedOffset: undefined,
        watermark: undefined,
        lastRecordAt: undefined
      }
      this.partitions.set(key, p)
    }
    return p
  }

  private tallyOf(label: string): Map<string, number> {
    let t = this.tallies.get(label)
    if (t === undefined) {
      t = new Map()
      this.tallies.set(label, t)
    }
    return t
  }

  private partitionAttributes(tp: { topic: string; partition: number }): Record<string, string> {
    return { ...this.attributes, topic: tp.topic, partition: String(tp.partition) }
  }
}

/** Sets a chart's key, unless it is a new key and the chart already has MaxTallyKeys of them. */
const setCapped = (tally: Map<string, number>, key: string, value: number): void => {
  if (tally.has(key) || tally.size < MaxTallyKeys) tally.set(key, value)
}

/** Adds `n` to a chart's key, card-like numbers in the key masked (see RowPreview). */
const addCapped = (tally: Map<string, number>, rawKey: string, n: number): void => {
  const key = maskCardNumbers(rawKey)
  setCapped(tally, key, (tally.get(key) ?? 0) + n)
}

const record = (figures: LatencyFigures, ms: number): LatencyFigures => {
  figures.count++
  figures.totalMs += ms
  figures.lastMs = ms
  if (ms > figures.maxMs) figures.maxMs = ms
  return figures
}

/** Every pipeline running in this process, by name. */
export class PipelineRegistry extends Context.Service<PipelineRegistry, {
  readonly register: (name: string) => Effect.Effect<PipelineStats>
  readonly all: Effect.Effect<ReadonlyArray<PipelineStats>>
}>()("tributary/observability/PipelineRegistry") {
  /** A registry of its own (for consumers that are not pipelines, e.g. the local feature store's materializer). */
  static readonly make = Effect.map(Clock.Clock, (clock) => {
    const pipelines = new Map<string, PipelineStats>()
    return PipelineRegistry.of({
      register: (name) =>
        Effect.sync(() => {
          const stats = pipelines.get(name) ?? new PipelineStats(name, clock)
          pipelines.set(name, stats)
          return stats
        }),
      all: Effect.sync(() => [...pipelines.values()])
    })
  })

  /** With the pipelines' dead-letter summaries logged once per LOG_SUMMARY_INTERVAL_SECONDS. */
  static readonly layer = Layer.effect(
    PipelineRegistry,
    Effect.tap(PipelineRegistry.make, (registry) => Effect.forkScoped(reportSummaries(registry.all)))
  )
}
