import { Clock, Context, Effect, Layer, Schedule } from "effect"
import { PipelineRegistry } from "./PipelineStats.ts"

/** One point of the dashboard's throughput chart: per-second rates since the sample before. */
interface RatePoint {
  readonly t: number
  readonly in: number
  readonly out: number
}

/** A pipeline's throughput as of the newest sample. */
export interface Throughput {
  /** Records consumed and rows written per second over the rate window. */
  readonly inPerSecond: number
  readonly outPerSecond: number
  /** Records consumed per second over the rate window, by "topic:partition" (a partition not sampled yet: 0). */
  readonly partitionInPerSecond: (key: string) => number
  /** Per-second rates of the last two minutes, oldest first. */
  readonly history: ReadonlyArray<RatePoint>
}

interface Sample {
  readonly t: number
  readonly in: number
  readonly out: number
  readonly partitions: ReadonlyMap<string, number>
}

interface Tracked {
  readonly samples: Array<Sample>
  readonly history: Array<RatePoint>
}

const SampleInterval = "1 second"
/** Rates are averaged over about this long, so one slow batch does not make the figure jump. */
const RateWindowMs = 5_000
/** Two minutes of chart at one point per sample. */
const HistoryPoints = 120

const idle: Throughput = { inPerSecond: 0, outPerSecond: 0, partitionInPerSecond: () => 0, history: [] }

/** Per-second rate of `pick` between the oldest sample within the rate window and the newest one. */
const rate = (samples: ReadonlyArray<Sample>, pick: (s: Sample) => number | undefined): number => {
  const last = samples[samples.length - 1]
  const first = samples.find((s) => last !== undefined && last.t - s.t <= RateWindowMs + 500)
  if (last === undefined || first === undefined || last.t === first.t) return 0
  const a = pick(first) ?? 0
  const b = pick(last) ?? 0
  return Math.max(0, (b - a) / ((last.t - first.t) / 1000))
}

const throughputOf = (t: Tracked): Throughput => {
  // A copy: the samples move on while a caller still reads this.
  const samples = [...t.samples]
  return {
    inPerSecond: rate(samples, (s) => s.in),
    outPerSecond: rate(samples, (s) => s.out),
    partitionInPerSecond: (key) => rate(samples, (s) => s.partitions.get(key)),
    history: [...t.history]
  }
}

/**
 * Reads every pipeline's counters once a second, keeping a few seconds of samples for the rates and
 * two minutes of per-second rates for the dashboard's chart.
 */
export class ThroughputSampler extends Context.Service<ThroughputSampler, {
  /** The throughput of each pipeline as of now, looked up by name (a pipeline not sampled yet: all zero). */
  readonly current: Effect.Effect<(pipeline: string) => Throughput>
}>()("tributary/observability/ThroughputSampler") {
  static readonly layer = Layer.effect(
    ThroughputSampler,
    Effect.gen(function*() {
      const registry = yield* PipelineRegistry
      const tracked = new Map<string, Tracked>()

      const sample = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        for (const p of yield* registry.all) {
          let t = tracked.get(p.name)
          if (t === undefined) {
            t = { samples: [], history: [] }
            tracked.set(p.name, t)
          }
          const partitions = new Map([...p.partitions].map(([k, f]) => [k, f.recordsIn]))
          const previous = t.samples[t.samples.length - 1]
          t.samples.push({ t: now, in: p.recordsIn, out: p.recordsOut, partitions })
          while (t.samples.length > 0 && now - t.samples[0]!.t > RateWindowMs + 1_500) t.samples.shift()
          if (previous !== undefined && now > previous.t) {
            const dt = (now - previous.t) / 1000
            t.history.push({ t: now, in: (p.recordsIn - previous.in) / dt, out: (p.recordsOut - previous.out) / dt })
            if (t.history.length > HistoryPoints) t.history.shift()
          }
        }
      })
      yield* Effect.forkScoped(sample.pipe(Effect.repeat(Schedule.spaced(SampleInterval))))

      return ThroughputSampler.of({
        current: Effect.sync(() => {
          const now = new Map([...tracked].map(([name, t]) => [name, throughputOf(t)]))
          return (pipeline) => now.get(pipeline) ?? idle
        })
      })
    })
  )
}
