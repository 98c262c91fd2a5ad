import { Clock, Context, Effect, Layer } from "effect"
import type { ObservabilitySettings } from "../config/ObservabilityConfig.ts"
import { OnlineTables } from "../hopsworks/LocalFeatureStore.ts"
import { KafkaConnections } from "../kafka/KafkaSource.ts"
import { LagProbe, type LagReading, ownedLag, type PipelineLag, topicsOf } from "./LagProbe.ts"
import { type LatencyFigures, PipelineRegistry, type PipelineStats } from "./PipelineStats.ts"
import { assessReadiness, type BrokerProbe, isConnected, type Readiness, type ReadinessState } from "./Readiness.ts"
import { hasMaskedCardNumber, maskCardNumbers, previewRow } from "./RowPreview.ts"
import { type Throughput, ThroughputSampler } from "./ThroughputSampler.ts"

// ---------------------------------------------------------------------------------------------
// What /api/status answers (the dashboard's only data source)

interface PartitionStatus {
  readonly topic: string
  readonly partition: number
  readonly assigned: boolean
  /** Undefined when the runner does not report per-partition figures. */
  readonly recordsIn: number | undefined
  readonly recordsOut: number | undefined
  readonly inPerSecond: number | undefined
  readonly lastOffset: string | undefined
  readonly committedOffset: string | undefined
  readonly highWatermark: string | undefined
  readonly lag: number | undefined
  readonly watermark: number | undefined
}

interface LatencyStatus {
  readonly count: number
  readonly meanMs: number
  readonly maxMs: number
  readonly lastMs: number
}

interface PipelineStatus {
  readonly name: string
  readonly topology: {
    readonly sources: ReadonlyArray<string>
    readonly stages: ReadonlyArray<string>
    readonly sinks: ReadonlyArray<string>
  }
  readonly groupId: string | undefined
  readonly recordsIn: number
  readonly recordsOut: number
  readonly deadLettered: number
  readonly dropped: number
  readonly late: number
  readonly commits: number
  readonly lastCommitAt: number | undefined
  readonly inPerSecond: number
  readonly outPerSecond: number
  /** Per-second rates of the last two minutes, oldest first. */
  readonly history: ReadonlyArray<{ readonly t: number; readonly in: number; readonly out: number }>
  readonly lag: number | undefined
  readonly watermark: number | undefined
  readonly watermarkDelayMs: number | undefined
  readonly openWindows: number | undefined
  readonly stateSize: number | undefined
  readonly rebalances: number
  readonly errors: Record<string, number>
  readonly sinkLatency: Record<string, LatencyStatus>
  readonly commitLatency: LatencyStatus
  readonly partitions: ReadonlyArray<PartitionStatus>
  readonly tallies: ReadonlyArray<
    { readonly label: string; readonly entries: ReadonlyArray<readonly [string, number]> }
  >
  /** The newest output rows; empty unless row previews are on. */
  readonly latest: ReadonlyArray<Record<string, unknown>>
  /** The newest online rows of the pipeline's feature group, when this process has them (local store). */
  readonly featureRows: OnlineTableStatus | undefined
  readonly state: ReadinessState
  readonly ready: boolean
  readonly stalled: boolean
  readonly reasons: ReadonlyArray<string>
}

interface ConnectionStatus {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  readonly connected: boolean
  readonly lastContactAgoMs: number | undefined
  readonly crashes: number
  readonly requestTimeouts: number
  readonly rebalances: number
  readonly lastError: string | undefined
}

export interface ServiceStatus {
  readonly now: number
  readonly startedAt: number
  readonly readiness: Readiness
  /** Whether rows are shown (DASHBOARD_SHOW_ROWS=true); when false, `latest` and `newest` are empty. */
  readonly rowPreviews: boolean
  readonly kafka: { readonly broker: BrokerProbe; readonly connections: ReadonlyArray<ConnectionStatus> }
  readonly pipelines: ReadonlyArray<PipelineStatus>
  readonly onlineTables: ReadonlyArray<OnlineTableStatus>
}

interface OnlineTableStatus {
  readonly name: string
  readonly version: number
  readonly primaryKey: ReadonlyArray<string>
  readonly rows: number
  readonly applied: number
  /** Newest first; empty unless row previews are on. */
  readonly newest: ReadonlyArray<Record<string, unknown>>
}

// ---------------------------------------------------------------------------------------------

/**
 * The rows /api/status may carry: none unless previews are on (DASHBOARD_SHOW_ROWS=true), and then
 * display copies with card-like numbers masked (RowPreview).
 */
const previews = (showRows: boolean, rows: ReadonlyArray<Readonly<Record<string, unknown>>>) =>
  showRows ? rows.map(previewRow) : []

/** Chart entries; with previews off, a key that was a card number (masked at the source) is a row value too. */
const chartEntries = (showRows: boolean, tally: ReadonlyMap<string, number>) =>
  [...tally].filter(([key]) => showRows || !hasMaskedCardNumber(key)).sort((a, b) => b[1] - a[1]).slice(0, 20)

const latency = (f: LatencyFigures): LatencyStatus => ({
  count: f.count,
  meanMs: f.count === 0 ? 0 : f.totalMs / f.count,
  maxMs: f.maxMs,
  lastMs: f.lastMs
})

const pipelineStatus = (
  p: PipelineStats,
  now: number,
  lag: PipelineLag,
  throughput: Throughput,
  readiness: Readiness,
  tables: ReadonlyArray<OnlineTableStatus>,
  showRows: boolean
): PipelineStatus => {
  const keys = new Set([...p.partitions.keys(), ...p.assigned, ...lag.partitions.keys()])
  const partitions = [...keys].map((key): PartitionStatus => {
    const f = p.partitions.get(key)
    const l = lag.partitions.get(key)
    const colon = key.lastIndexOf(":")
    return {
      topic: key.slice(0, colon),
      partition: Number(key.slice(colon + 1)),
      assigned: p.assigned.has(key),
      recordsIn: f?.recordsIn,
      recordsOut: f?.recordsOut,
      inPerSecond: f === undefined ? undefined : throughput.partitionInPerSecond(key),
      lastOffset: f?.lastOffset,
      committedOffset: l?.committed ?? f?.committedOffset,
      highWatermark: l?.high,
      lag: l?.lag,
      watermark: f?.watermark
    }
  }).sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
  const pr = readiness.pipelines.find((x) => x.name === p.name)
  const watermark = p.watermark !== undefined && Number.isFinite(p.watermark) ? p.watermark : undefined
  return {
    name: p.name,
    topology: {
      sources: p.topology?.sources ?? topicsOf(p),
      stages: p.topology?.stages ?? ["decode", "write"],
      sinks: p.topology?.sinks ?? ["output", ...(p.deadLettered > 0 ? ["dead letters"] : [])]
    },
    groupId: lag.groupId,
    recordsIn: p.recordsIn,
    recordsOut: p.recordsOut,
    deadLettered: p.deadLettered,
    dropped: p.dropped,
    late: p.late,
    commits: p.commits,
    lastCommitAt: p.lastCommitAt,
    inPerSecond: throughput.inPerSecond,
    outPerSecond: throughput.outPerSecond,
    history: throughput.history,
    lag: ownedLag(p, lag),
    watermark,
    watermarkDelayMs: watermark === undefined ? undefined : now - watermark,
    openWindows: p.openWindows,
    stateSize: p.stateSize,
    rebalances: p.rebalances,
    errors: Object.fromEntries(p.errorCounts),
    sinkLatency: Object.fromEntries([...p.sinkLatencies].map(([k, f]) => [k, latency(f)])),
    commitLatency: latency(p.commitLatency),
    partitions,
    tallies: [...p.tallies].map(([label, m]) => ({ label, entries: chartEntries(showRows, m) })),
    latest: previews(showRows, p.latest),
    featureRows:
      tables.filter((tb) => tb.name === (p.topology?.featureGroup ?? p.name)).sort((a, b) => b.version - a.version)[0],
    state: pr?.state ?? "startup",
    ready: pr?.ready ?? false,
    stalled: pr?.stalled ?? false,
    reasons: pr?.reasons ?? []
  }
}

/**
 * What the status view and the Prometheus exporter read: the pipelines' figures, what the sampler and
 * the lag probe gathered, the Kafka connections, the online tables, and when the service started.
 */
export const HealthSources = Effect.all({
  registry: PipelineRegistry,
  online: OnlineTables,
  connections: KafkaConnections,
  sampler: ThroughputSampler,
  probe: LagProbe,
  startedAt: Clock.currentTimeMillis
})

/**
 * Readiness (what /readyz answers) and the status of the whole service (what /api/status answers),
 * from the pipelines' figures, the sampled throughput and the last lag poll.
 */
export class StatusView extends Context.Service<StatusView, {
  readonly readiness: Effect.Effect<Readiness>
  readonly status: Effect.Effect<ServiceStatus>
}>()("tributary/observability/StatusView") {
  static readonly layer = (
    settings: Pick<ObservabilitySettings, "stallTimeoutMs" | "brokerContactTimeoutMs" | "showRows">
  ) =>
    Layer.effect(
      StatusView,
      Effect.gen(function*() {
        const { connections, online, probe, registry, sampler, startedAt } = yield* HealthSources

        const readinessOf = (now: number, pipelines: ReadonlyArray<PipelineStats>, lag: LagReading): Readiness =>
          assessReadiness({
            now,
            stallTimeoutMs: settings.stallTimeoutMs,
            brokerContactTimeoutMs: settings.brokerContactTimeoutMs,
            broker: lag.broker,
            connections: [...connections],
            pipelines: pipelines.map((p) => {
              const l = lag.of(p.name)
              return {
                name: p.name,
                assignedPartitions: p.assigned.size,
                lag: ownedLag(p, l, "unprocessed"),
                lagSince: l.lagSince,
                lastProgressAt: p.lastProgressAt,
                startedAt: p.startedAt,
                // A group join (real clients), or an assignment event (the in-memory broker's way).
                joinedGroup: (p.source?.connection?.rebalances ?? 0) > 0 || p.rebalances > 0
              }
            })
          })

        const readiness = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          return readinessOf(now, yield* registry.all, yield* probe.current)
        })

        const status = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const pipelines = yield* registry.all
          const lag = yield* probe.current
          const throughput = yield* sampler.current
          const r = readinessOf(now, pipelines, lag)
          const tables = (yield* online.tables).map((tb): OnlineTableStatus => ({
            name: tb.featureGroup.name,
            version: tb.featureGroup.version,
            primaryKey: tb.featureGroup.primaryKey,
            rows: tb.rows.size,
            applied: tb.applied,
            newest: previews(settings.showRows, [...tb.rows.values()].slice(-8).toReversed())
          }))
          return {
            now,
            startedAt,
            readiness: r,
            kafka: {
              broker: lag.broker,
              connections: [...connections].map((c) => ({
                groupId: c.groupId,
                topics: c.topics,
                connected: isConnected(c, now, settings.brokerContactTimeoutMs),
                lastContactAgoMs: c.lastContactAt === undefined ? undefined : now - c.lastContactAt,
                crashes: c.crashes,
                requestTimeouts: c.requestTimeouts,
                rebalances: c.rebalances,
                lastError: c.lastError === undefined ? undefined : maskCardNumbers(c.lastError)
              }))
            },
            rowPreviews: settings.showRows,
            pipelines: pipelines.map((p) =>
              pipelineStatus(p, now, lag.of(p.name), throughput(p.name), r, tables, settings.showRows)
            ),
            onlineTables: tables
          } satisfies ServiceStatus
        })

        return StatusView.of({ readiness, status })
      })
    )
}
