import { Cause, Clock, Context, Effect, Fiber, Layer, Schedule } from "effect"
import type { ObservabilitySettings } from "../config/ObservabilityConfig.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import { KafkaConnections } from "../kafka/KafkaSource.ts"
import { PipelineRegistry, type PipelineStats } from "./PipelineStats.ts"
import type { BrokerProbe } from "./Readiness.ts"

interface PartitionLag {
  readonly high: string
  readonly committed: string | undefined
  /** Kafka's consumer lag: log end minus the group's commit. */
  readonly lag: number
  /**
   * Records not yet read: log end minus the next offset to read, when the runner reports positions;
   * else the lag. Stalls are judged on this (a windowed pipeline's commit waits for open windows).
   */
  readonly unprocessed: number
}

/** What the last poll found for one pipeline. */
export interface PipelineLag {
  /** The consumer group whose commits the lag is measured from. */
  readonly groupId: string | undefined
  /** By "topic:partition"; empty before the first poll or when the pipeline's position is unknown. */
  readonly partitions: ReadonlyMap<string, PartitionLag>
  /** Since when the unprocessed lag on the owned partitions has been > 0 without a break. */
  readonly lagSince: number | undefined
}

/** The broker probe and each pipeline's lag, as of the last poll. */
export interface LagReading {
  readonly broker: BrokerProbe
  /** A pipeline not polled yet: lag unknown. */
  readonly of: (pipeline: string) => PipelineLag
}

const unknown: PipelineLag = { groupId: undefined, partitions: new Map(), lagSince: undefined }

/** The topics a pipeline reads: attached by its runner, or seen in its partitions. */
export const topicsOf = (p: PipelineStats): Array<string> => {
  const topics = new Set(p.source?.topics ?? [])
  for (const f of p.partitions.values()) topics.add(f.topic)
  for (const key of p.assigned) topics.add(key.slice(0, key.lastIndexOf(":")))
  return [...topics]
}

/** Lag over the partitions this process owns (all known partitions if the runner does not report them). */
export const ownedLag = (
  p: PipelineStats,
  lag: PipelineLag,
  which: "lag" | "unprocessed" = "lag"
): number | undefined => {
  if (lag.partitions.size === 0) return undefined
  let sum = 0
  for (const [key, l] of lag.partitions) if (p.assigned.size === 0 || p.assigned.has(key)) sum += l[which]
  return sum
}

const MaxPendingProbes = 3

const errorText = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

/**
 * Polls consumer lag every `lagPollIntervalMs`; each poll is also the broker reachability probe
 * (a poll that fails or does not answer in time marks the brokers unreachable).
 */
export class LagProbe extends Context.Service<LagProbe, {
  readonly current: Effect.Effect<LagReading>
}>()("tributary/observability/LagProbe") {
  static readonly layer = (settings: Pick<ObservabilitySettings, "lagPollIntervalMs">) =>
    Layer.effect(
      LagProbe,
      Effect.gen(function*() {
        const registry = yield* PipelineRegistry
        const admin = yield* KafkaAdmin
        const connections = yield* KafkaConnections
        const scope = yield* Effect.scope
        const lags = new Map<string, PipelineLag>()
        let broker: BrokerProbe = { reachable: undefined, checkedAt: undefined, error: undefined }
        let pendingProbes = 0

        /** The consumer group of a pipeline: attached by its runner, else a kafkajs consumer on the same topics. */
        const groupOf = (p: PipelineStats, topics: ReadonlyArray<string>): string | undefined => {
          if (p.source !== undefined) return p.source.groupId
          if (topics.length === 0) return undefined
          const match = [...connections].find((c) => c.topics.every((t) => topics.includes(t)))
          return match?.groupId
        }

        const poll = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          let probed = false
          for (const p of yield* registry.all) {
            const topics = topicsOf(p)
            const groupId = groupOf(p, topics)
            const partitions = new Map<string, PartitionLag>()
            for (const topic of topics) {
              probed = true
              const offsets = yield* admin.topicOffsets(topic)
              const committed = groupId === undefined ? [] : yield* admin.committedOffsets(groupId, topic)
              for (const o of offsets) {
                const key = `${topic}:${o.partition}`
                const figures = p.partitions.get(key)
                const groupCommit = committed.find((c) => c.partition === o.partition)?.offset
                // Kafka's consumer lag: log end minus the group's commit; without a group, the next offset to read.
                const position = groupCommit ?? figures?.committedOffset ??
                  (figures?.lastOffset === undefined ? undefined : String(BigInt(figures.lastOffset) + 1n)) ??
                  (groupId === undefined ? undefined : o.low)
                // Neither known: the pipeline does not report where it is, so its lag is unknown.
                if (position === undefined) continue
                const lagged = Math.max(0, Number(BigInt(o.high) - BigInt(position)))
                const read = figures?.lastOffset === undefined ? undefined : BigInt(figures.lastOffset) + 1n
                partitions.set(key, {
                  high: o.high,
                  committed: position,
                  lag: lagged,
                  unprocessed: read === undefined ? lagged : Math.max(0, Number(BigInt(o.high) - read))
                })
              }
            }
            const lag: PipelineLag = { groupId, partitions, lagSince: undefined }
            const owned = ownedLag(p, lag, "unprocessed")
            const lagSince = owned === undefined || owned === 0 ? undefined : lags.get(p.name)?.lagSince ?? now
            lags.set(p.name, { ...lag, lagSince })
          }
          if (probed) broker = { reachable: true, checkedAt: yield* Clock.currentTimeMillis, error: undefined }
        })

        const unreachable = (error: string) =>
          Effect.map(Clock.currentTimeMillis, (checkedAt) => {
            broker = { reachable: false, checkedAt, error }
          })

        /** One poll at a time may outlive its timeout (kafkajs keeps retrying a dead broker); a few are allowed. */
        const probe = Effect.gen(function*() {
          if (pendingProbes >= MaxPendingProbes) return
          pendingProbes++
          const fiber = yield* poll.pipe(
            Effect.catchCause((cause) => unreachable(errorText(Cause.squash(cause)))),
            Effect.ensuring(Effect.sync(() => pendingProbes--)),
            Effect.forkIn(scope)
          )
          const timeoutMs = Math.max(2_000, settings.lagPollIntervalMs)
          const answered = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(timeoutMs))
          if (answered._tag === "None") yield* unreachable(`no answer within ${timeoutMs} ms`)
        })

        yield* Effect.forkIn(
          probe.pipe(Effect.repeat(Schedule.spaced(settings.lagPollIntervalMs)), Effect.delay(500)),
          scope
        )

        return LagProbe.of({
          current: Effect.sync(() => {
            const now = new Map(lags)
            return { broker, of: (pipeline) => now.get(pipeline) ?? unknown }
          })
        })
      })
    )
}
