/**
 * Stage occupancy of a Tributary child (bench/systems/tributary.ts): how long each stage of the
 * pipeline was busy during the measured window, from
 *
 * - the runner's own spans (`prepare`, `write`, `sink`, `apply`, `dead-letters`), through a tracer
 *   that adds up their durations, and
 * - wrappers the child puts around production parts: the source's event stream (time a pull waits
 *   for a batch: "fetch wait"), the window engine (`engine`), and the feature store's Kafka sink
 *   (`produce`: from send to the acknowledgement of every record).
 *
 * Figures are sums of durations. A stage that runs one step at a time (the windowed path, the
 * source) is busy for at most the whole window, so its share of the window is its occupancy; steps
 * that overlap (transactions write two at a time) can add up to more than the window: "in flight".
 */
import { Effect, Stream, Tracer } from "effect"
import type { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import type { KafkaSource, Subscription } from "../../src/kafka/KafkaSource.ts"
import type { WindowEngine } from "../../src/window/index.ts"
import { selfCpuSeconds } from "./common.ts"

interface Figure {
  ms: number
  count: number
}

export interface StageSummary {
  /** Sum of the stage's step durations, ms. */
  readonly busyMs: number
  /** busyMs over the window's wall time. */
  readonly share: number
  readonly steps: number
  /** Mean duration of one step, ms. */
  readonly meanMs: number
}

export const makeOccupancy = () => {
  let active = false
  let figures = new Map<string, Figure>()
  let batches = 0
  let records = 0
  let pulls = 0
  // When the feature store last acknowledged a send (epoch ms), and the process CPU then (s).
  let lastProduceAt = 0
  let cpuAtLastProduce = 0

  const add = (stage: string, ms: number) => {
    if (!active) return
    const f = figures.get(stage)
    if (f === undefined) figures.set(stage, { ms, count: 1 })
    else {
      f.ms += ms
      f.count++
    }
  }

  const hrMs = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6

  /** Adds up the durations of the runner's spans by name. */
  class TimedSpan extends Tracer.NativeSpan {
    override end(endTime: bigint, exit: Parameters<Tracer.NativeSpan["end"]>[1]): void {
      super.end(endTime, exit)
      add(this.name, Number(endTime - this.startTime) / 1e6)
    }
  }
  const tracer = Tracer.make({ span: (options) => new TimedSpan(options) })

  /** The source with its event stream timed: how long each pull waits for the next events. */
  const timedSource = (source: KafkaSource["Service"]): KafkaSource["Service"] => ({
    subscribe: (options) =>
      Effect.map(source.subscribe(options), (sub): Subscription => ({
        ...sub,
        events: Stream.transformPull(sub.events, (pull) =>
          Effect.succeed(Effect.suspend(() => {
            const start = process.hrtime.bigint()
            return Effect.tap(pull, (events) =>
              Effect.sync(() => {
                add("fetch wait", hrMs(start))
                if (!active) return
                pulls++
                for (const e of events) {
                  if (e._tag !== "Batch") continue
                  batches++
                  records += e.records.length
                }
              }))
          })))
      }))
  })

  /** The window engine with its record work timed (`process`, and firing on processing time). */
  const timedEngine = <K, V, Out>(engine: WindowEngine<K, V, Out>): WindowEngine<K, V, Out> => ({
    ...engine,
    process: (partition, batch, nowMs) => {
      const start = process.hrtime.bigint()
      const result = engine.process(partition, batch, nowMs)
      add("engine", hrMs(start))
      return result
    },
    onProcessingTime: (nowMs) => {
      const start = process.hrtime.bigint()
      const result = engine.onProcessingTime(nowMs)
      add("engine", hrMs(start))
      return result
    }
  })

  /** A sink whose sends are timed from the call to the last acknowledgement. */
  const timedSink = (sink: KafkaSink["Service"]): KafkaSink["Service"] => ({
    ...sink,
    send: (outgoing) =>
      Effect.suspend(() => {
        const start = process.hrtime.bigint()
        return Effect.ensuring(
          sink.send(outgoing),
          Effect.sync(() => {
            add("produce", hrMs(start))
            lastProduceAt = Date.now()
            cpuAtLastProduce = selfCpuSeconds()
          })
        )
      })
  })

  return {
    tracer,
    timedSource,
    timedEngine,
    timedSink,
    /** Starts the measured window (earlier figures, the warm-up's, are dropped). */
    /** The last acknowledged output so far: epoch ms and process CPU seconds (undefined before any). */
    lastOutput: () => (lastProduceAt === 0 ? undefined : { at: lastProduceAt, cpuSec: cpuAtLastProduce }),
    start: () => {
      figures = new Map()
      batches = 0
      records = 0
      pulls = 0
      lastProduceAt = 0
      active = true
    },
    /**
     * Ends the window (`endAt`, epoch ms) and summarises it. `tailMs`: from the last acknowledged
     * output to the end of the run (for a windowed run, waiting for the commit that covers the input).
     */
    stop: (wallMs: number, endAt: number) => {
      active = false
      const stages: Record<string, StageSummary> = {}
      for (const [stage, f] of [...figures].sort(([a], [b]) => a.localeCompare(b))) {
        stages[stage] = {
          busyMs: Math.round(f.ms),
          share: Math.round((f.ms / wallMs) * 1000) / 1000,
          steps: f.count,
          meanMs: Math.round((f.ms / f.count) * 1000) / 1000
        }
      }
      return {
        wallMs,
        tailMs: lastProduceAt === 0 ? null : endAt - lastProduceAt,
        stages,
        source: { pulls, batches, recordsPerBatch: batches === 0 ? 0 : Math.round(records / batches) }
      }
    }
  }
}

export type Occupancy = ReturnType<typeof makeOccupancy>
