import { Cause, Context, Effect, Fiber, Layer, Metric, Schedule } from "effect"
import type { ObservabilitySettings } from "../config/ObservabilityConfig.ts"
import { OnlineTables } from "../hopsworks/LocalFeatureStore.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import { KafkaConnections, type SourceConnection } from "../kafka/KafkaSource.ts"
import { PipelineRegistry, type PipelineStats } from "./PipelineStats.ts"
import { assessReadiness, type BrokerProbe, isConnected, type Readiness } from "./Readiness.ts"

// ---------------------------------------------------------------------------------------------
// What /api/status answers (the dashboard's only data source)

export interface PartitionStatus {
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

export interface PipelineStatus {
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
  readonly sinkLatency: Record<string, { count: number; meanMs: number; maxMs: number; lastMs: number }>
  readonly commitLatency: { count: number; meanMs: number; maxMs: number; lastMs: number }
  readonly partitions: ReadonlyArray<PartitionStatus>
  readonly tallies: ReadonlyArray<
    { readonly label: string; readonly entries: ReadonlyArray<readonly [string, number]> }
  >
  readonly latest: ReadonlyArray<Record<string, unknown>>
  /** The newest online rows of the pipeline's feature group, when this process has them (local store). */
  readonly featureRows: OnlineTableStatus | undefined
  readonly ready: boolean
  readonly stalled: boolean
  readonly reasons: ReadonlyArray<string>
}

export interface ConnectionStatus {
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
  readonly kafka: { readonly broker: BrokerProbe; readonly connections: ReadonlyArray<ConnectionStatus> }
  readonly pipelines: ReadonlyArray<PipelineStatus>
  readonly onlineTables: ReadonlyArray<OnlineTableStatus>
}

export interface OnlineTableStatus {
  readonly name: string
  readonly version: number
  readonly primaryKey: ReadonlyArray<string>
  readonly rows: number
  readonly applied: number
  /** Newest first. */
  readonly newest: ReadonlyArray<Record<string, unknown>>
}

// ---------------------------------------------------------------------------------------------
// Gauges and counters read from the pipelines' plain figures when /metrics is scraped

const gauge = (name: string, description: string) => Metric.gauge(name, { description })
const gauges = {
  inRate: gauge("tributary_records_in_per_second", "Records consumed per second (last 5 s)"),
  outRate: gauge("tributary_records_out_per_second", "Rows written per second (last 5 s)"),
  partitionInRate: gauge("tributary_partition_records_in_per_second", "Records consumed per second, per partition"),
  lag: gauge("tributary_consumer_lag", "Records not yet committed by the pipeline's group, per owned partition"),
  pipelineLag: gauge("tributary_pipeline_consumer_lag", "Sum of consumer lag over the partitions a pipeline owns"),
  watermark: gauge("tributary_watermark_timestamp_seconds", "Pipeline event-time watermark (epoch seconds)"),
  watermarkDelay: gauge("tributary_watermark_delay_seconds", "Wall clock minus the pipeline watermark"),
  openWindows: gauge("tributary_open_windows", "Open (key, window) states of a windowed pipeline"),
  stateSize: gauge("tributary_window_state_records", "Records held in open windows (approximate state size)"),
  assigned: gauge("tributary_assigned_partitions", "Source partitions this process owns"),
  pipelineReady: gauge("tributary_pipeline_ready", "1 when the pipeline is ready, else 0"),
  stalled: gauge("tributary_pipeline_stalled", "1 when the pipeline has lag and makes no progress"),
  ready: gauge("tributary_ready", "1 when the service is ready (what /readyz answers)"),
  brokerReachable: gauge("tributary_kafka_broker_reachable", "1 when the last broker probe answered"),
  consumerConnected: gauge("tributary_kafka_consumer_connected", "1 when a Kafka consumer heard from its brokers"),
  tally: gauge("tributary_pipeline_tally", "Pipeline-specific figures for charts (tally label and key)"),
  onlineRows: gauge("tributary_online_table_rows", "Rows in the local online feature store"),
  uptime: gauge("tributary_uptime_seconds", "Seconds since the service started")
}
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const counters = {
  commits: counter("tributary_commits_total", "Offset commits (or transactions carrying offsets)"),
  crashes: counter("tributary_kafka_consumer_crashes_total", "kafkajs consumer crashes (restarted or not)"),
  requestTimeouts: counter("tributary_kafka_request_timeouts_total", "kafkajs request timeouts"),
  groupJoins: counter("tributary_kafka_group_joins_total", "Consumer group joins (each follows a rebalance)")
}

type Attrs = Record<string, string>
const seriesKey = (m: Metric.Metric<never, unknown>, attrs: Attrs) => `${m.id}${JSON.stringify(attrs)}`

/** Sets gauges each refresh and removes the series not set any more (e.g. revoked partitions). */
class Exporter {
  private previous = new Map<string, Effect.Effect<void>>()
  private current = new Map<string, Effect.Effect<void>>()
  private readonly counted = new Map<string, number>()
  private readonly updates: Array<Effect.Effect<void>> = []

  set(m: Metric.Gauge<number>, attrs: Attrs, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return
    const tagged = Metric.withAttributes(m, attrs)
    this.current.set(seriesKey(m, attrs), Metric.remove(tagged))
    this.updates.push(Metric.update(tagged, value))
  }

  /** Advances a counter to `total` (a cumulative figure kept elsewhere). */
  total(m: Metric.Counter<number>, attrs: Attrs, total: number): void {
    const key = seriesKey(m, attrs)
    const delta = total - (this.counted.get(key) ?? 0)
    if (delta <= 0) return
    this.counted.set(key, total)
    this.updates.push(Metric.update(Metric.withAttributes(m, attrs), delta))
  }

  flush(): Effect.Effect<void> {
    const stale = [...this.previous].filter(([k]) => !this.current.has(k)).map(([, remove]) => remove)
    const all = [...this.updates.splice(0), ...stale]
    this.previous = this.current
    this.current = new Map()
    return Effect.all(all, { discard: true })
  }
}

// ---------------------------------------------------------------------------------------------

interface Sample {
  readonly t: number
  readonly in: number
  readonly out: number
  readonly partitions: ReadonlyMap<string, number>
}

interface LagFigures {
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

interface Tracked {
  readonly samples: Array<Sample>
  /** Per-second rates, for the dashboard's chart. */
  readonly history: Array<{ t: number; in: number; out: number }>
  lag: Map<string, LagFigures>
  lagSince: number | undefined
  groupId: string | undefined
}

const RateWindowMs = 5_000
const HistorySeconds = 120
const MaxPendingProbes = 3

const errorText = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

/** JSON-safe copies of rows (bigint → number, Buffer → text, Date → ISO). */
export const jsonSafe = (row: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  JSON.parse(
    JSON.stringify(row, (_, v: unknown) => {
      if (typeof v === "bigint") return Number(v)
      if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8")
      return v
    })
  ) as Record<string, unknown>

/** The topics a pipeline reads: attached by its runner, or seen in its partitions. */
const topicsOf = (p: PipelineStats): Array<string> => {
  const topics = new Set(p.source?.topics ?? [])
  for (const f of p.partitions.values()) topics.add(f.topic)
  for (const key of p.assigned) topics.add(key.slice(0, key.lastIndexOf(":")))
  return [...topics]
}

const latency = (f: { count: number; totalMs: number; maxMs: number; lastMs: number }) => ({
  count: f.count,
  meanMs: f.count === 0 ? 0 : f.totalMs / f.count,
  maxMs: f.maxMs,
  lastMs: f.lastMs
})

/**
 * Watches the running pipelines once a second (throughput), polls consumer lag and broker
 * reachability every `lagPollIntervalMs`, and answers readiness, status and metrics from that.
 */
export class HealthMonitor extends Context.Service<HealthMonitor, {
  readonly readiness: Effect.Effect<Readiness>
  readonly status: Effect.Effect<ServiceStatus>
  /** Brings the derived gauges (rates, lag, watermark delay, readiness...) up to date; run before formatting metrics. */
  readonly refreshMetrics: Effect.Effect<void>
}>()("tributary/observability/HealthMonitor") {
  static readonly layer = (settings: ObservabilitySettings) => Layer.effect(HealthMonitor, make(settings))
}

const make = (settings: ObservabilitySettings) =>
  Effect.gen(function*() {
    const registry = yield* PipelineRegistry
    const online = yield* OnlineTables
    const admin = yield* KafkaAdmin
    const connections = yield* KafkaConnections
    const scope = yield* Effect.scope
    const startedAt = Date.now()
    const tracked = new Map<string, Tracked>()
    const exporter = new Exporter()
    let broker: BrokerProbe = { reachable: undefined, checkedAt: undefined, error: undefined }
    let pendingProbes = 0

    const trackedOf = (name: string): Tracked => {
      let t = tracked.get(name)
      if (t === undefined) {
        t = { samples: [], history: [], lag: new Map(), lagSince: undefined, groupId: undefined }
        tracked.set(name, t)
      }
      return t
    }

    // --- throughput ------------------------------------------------------------------------
    const sample = Effect.gen(function*() {
      const now = Date.now()
      for (const p of yield* registry.all) {
        const t = trackedOf(p.name)
        const partitions = new Map([...p.partitions].map(([k, f]) => [k, f.recordsIn]))
        const previous = t.samples[t.samples.length - 1]
        t.samples.push({ t: now, in: p.recordsIn, out: p.recordsOut, partitions })
        while (t.samples.length > 0 && now - t.samples[0]!.t > RateWindowMs + 1_500) t.samples.shift()
        if (previous !== undefined && now > previous.t) {
          const dt = (now - previous.t) / 1000
          t.history.push({ t: now, in: (p.recordsIn - previous.in) / dt, out: (p.recordsOut - previous.out) / dt })
          if (t.history.length > HistorySeconds) t.history.shift()
        }
      }
    })

    const rate = (t: Tracked, pick: (s: Sample) => number | undefined): number => {
      const last = t.samples[t.samples.length - 1]
      const first = t.samples.find((s) => last !== undefined && last.t - s.t <= RateWindowMs + 500)
      if (last === undefined || first === undefined || last.t === first.t) return 0
      const a = pick(first) ?? 0
      const b = pick(last) ?? 0
      return Math.max(0, (b - a) / ((last.t - first.t) / 1000))
    }

    // --- lag and broker reachability -------------------------------------------------------
    /** The consumer group of a pipeline: attached by its runner, else a kafkajs consumer on the same topics. */
    const groupOf = (p: PipelineStats, topics: ReadonlyArray<string>): string | undefined => {
      if (p.source !== undefined) return p.source.groupId
      if (topics.length === 0) return undefined
      const match = [...connections].find((c) => c.topics.every((t) => topics.includes(t)))
      return match?.groupId
    }

    const pollLag = Effect.gen(function*() {
      const now = Date.now()
      let probed = false
      for (const p of yield* registry.all) {
        const t = trackedOf(p.name)
        const topics = topicsOf(p)
        const groupId = groupOf(p, topics)
        t.groupId = groupId
        const lag = new Map<string, LagFigures>()
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
            lag.set(key, {
              high: o.high,
              committed: position,
              lag: lagged,
              unprocessed: read === undefined ? lagged : Math.max(0, Number(BigInt(o.high) - read))
            })
          }
        }
        t.lag = lag
        const owned = ownedLag(p, t, "unprocessed")
        if (owned === undefined || owned === 0) t.lagSince = undefined
        else t.lagSince ??= now
      }
      if (probed) broker = { reachable: true, checkedAt: Date.now(), error: undefined }
    })

    /** One poll at a time may outlive its timeout (kafkajs keeps retrying a dead broker); a few are allowed. */
    const probe = Effect.gen(function*() {
      if (pendingProbes >= MaxPendingProbes) return
      pendingProbes++
      const fiber = yield* pollLag.pipe(
        Effect.catchCause((cause) =>
          Effect.sync(() => {
            broker = { reachable: false, checkedAt: Date.now(), error: errorText(Cause.squash(cause)) }
          })
        ),
        Effect.ensuring(Effect.sync(() => pendingProbes--)),
        Effect.forkIn(scope)
      )
      const timeoutMs = Math.max(2_000, settings.lagPollIntervalMs)
      const answered = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(timeoutMs))
      if (answered._tag === "None") {
        broker = { reachable: false, checkedAt: Date.now(), error: `no answer within ${timeoutMs} ms` }
      }
    })

    /** Lag over the partitions this process owns (all known partitions if the runner does not report them). */
    const ownedLag = (p: PipelineStats, t: Tracked, which: "lag" | "unprocessed" = "lag"): number | undefined => {
      if (t.lag.size === 0) return undefined
      let sum = 0
      for (const [key, l] of t.lag) if (p.assigned.size === 0 || p.assigned.has(key)) sum += l[which]
      return sum
    }

    // --- readiness -------------------------------------------------------------------------
    const connectionList = (): Array<SourceConnection> => [...connections]

    const readinessOf = (pipelines: ReadonlyArray<PipelineStats>, now: number): Readiness =>
      assessReadiness({
        now,
        stallTimeoutMs: settings.stallTimeoutMs,
        brokerContactTimeoutMs: settings.brokerContactTimeoutMs,
        broker,
        connections: connectionList(),
        pipelines: pipelines.map((p) => {
          const t = trackedOf(p.name)
          return {
            name: p.name,
            assignedPartitions: p.assigned.size,
            lag: ownedLag(p, t, "unprocessed"),
            lagSince: t.lagSince,
            lastProgressAt: p.lastProgressAt,
            startedAt: p.startedAt
          }
        })
      })

    const readiness = Effect.map(registry.all, (ps) => readinessOf(ps, Date.now()))

    // --- status ----------------------------------------------------------------------------
    const pipelineStatus = (
      p: PipelineStats,
      r: Readiness,
      now: number,
      tables: ReadonlyArray<OnlineTableStatus>
    ): PipelineStatus => {
      const t = trackedOf(p.name)
      const keys = new Set([...p.partitions.keys(), ...p.assigned, ...t.lag.keys()])
      const partitions = [...keys].map((key): PartitionStatus => {
        const f = p.partitions.get(key)
        const l = t.lag.get(key)
        const colon = key.lastIndexOf(":")
        return {
          topic: key.slice(0, colon),
          partition: Number(key.slice(colon + 1)),
          assigned: p.assigned.has(key),
          recordsIn: f?.recordsIn,
          recordsOut: f?.recordsOut,
          inPerSecond: f === undefined ? undefined : rate(t, (s) => s.partitions.get(key)),
          lastOffset: f?.lastOffset,
          committedOffset: l?.committed ?? f?.committedOffset,
          highWatermark: l?.high,
          lag: l?.lag,
          watermark: f?.watermark
        }
      }).sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
      const pr = r.pipelines.find((x) => x.name === p.name)
      const watermark = p.watermark !== undefined && Number.isFinite(p.watermark) ? p.watermark : undefined
      const topics = topicsOf(p)
      return {
        name: p.name,
        topology: {
          sources: p.topology?.sources ?? topics,
          stages: p.topology?.stages ?? ["decode", "write"],
          sinks: p.topology?.sinks ?? ["output", ...(p.deadLettered > 0 ? ["dead letters"] : [])]
        },
        groupId: t.groupId,
        recordsIn: p.recordsIn,
        recordsOut: p.recordsOut,
        deadLettered: p.deadLettered,
        dropped: p.dropped,
        late: p.late,
        commits: p.commits,
        lastCommitAt: p.lastCommitAt,
        inPerSecond: rate(t, (s) => s.in),
        outPerSecond: rate(t, (s) => s.out),
        history: t.history,
        lag: ownedLag(p, t),
        watermark,
        watermarkDelayMs: watermark === undefined ? undefined : now - watermark,
        openWindows: p.openWindows,
        stateSize: p.stateSize,
        rebalances: p.rebalances,
        errors: Object.fromEntries(p.errorCounts),
        sinkLatency: Object.fromEntries([...p.sinkLatencies].map(([k, f]) => [k, latency(f)])),
        commitLatency: latency(p.commitLatency),
        partitions,
        tallies: [...p.tallies].map(([label, m]) => ({
          label,
          entries: [...m].sort((a, b) => b[1] - a[1]).slice(0, 20)
        })),
        latest: p.latest.map(jsonSafe),
        featureRows: tables.filter((tb) => tb.name === (p.topology?.featureGroup ?? p.name)).sort((a, b) =>
          b.version - a.version
        )[0],
        ready: pr?.ready ?? false,
        stalled: pr?.stalled ?? false,
        reasons: pr?.reasons ?? []
      }
    }

    const status = Effect.gen(function*() {
      const now = Date.now()
      const pipelines = yield* registry.all
      const r = readinessOf(pipelines, now)
      const tables = (yield* online.tables).map((tb): OnlineTableStatus => ({
        name: tb.featureGroup.name,
        version: tb.featureGroup.version,
        primaryKey: tb.featureGroup.primaryKey,
        rows: tb.rows.size,
        applied: tb.applied,
        newest: [...tb.rows.values()].slice(-8).toReversed().map(jsonSafe)
      }))
      return {
        now,
        startedAt,
        readiness: r,
        kafka: {
          broker,
          connections: connectionList().map((c) => ({
            groupId: c.groupId,
            topics: c.topics,
            connected: isConnected(c, now, settings.brokerContactTimeoutMs),
            lastContactAgoMs: c.lastContactAt === undefined ? undefined : now - c.lastContactAt,
            crashes: c.crashes,
            requestTimeouts: c.requestTimeouts,
            rebalances: c.rebalances,
            lastError: c.lastError
          }))
        },
        pipelines: pipelines.map((p) => pipelineStatus(p, r, now, tables)),
        onlineTables: tables
      } satisfies ServiceStatus
    })

    // --- metrics ---------------------------------------------------------------------------
    const refreshMetrics = Effect.gen(function*() {
      const now = Date.now()
      const pipelines = yield* registry.all
      const r = readinessOf(pipelines, now)
      for (const p of pipelines) {
        const t = trackedOf(p.name)
        const a = { pipeline: p.name }
        exporter.set(
          gauges.inRate,
          a,
          rate(t, (s) =>
            s.in)
        )
        exporter.set(gauges.outRate, a, rate(t, (s) => s.out))
        for (const f of p.partitions.values()) {
          const key = `${f.topic}:${f.partition}`
          if (p.assigned.size > 0 && !p.assigned.has(key)) continue
          exporter.set(
            gauges.partitionInRate,
            { ...a, topic: f.topic, partition: String(f.partition) },
            rate(t, (s) => s.partitions.get(key))
          )
        }
        for (const [key, l] of t.lag) {
          if (p.assigned.size > 0 && !p.assigned.has(key)) continue
          const colon = key.lastIndexOf(":")
          exporter.set(gauges.lag, {
            ...a,
            group: t.groupId ?? "",
            topic: key.slice(0, colon),
            partition: key.slice(colon + 1)
          }, l.lag)
        }
        exporter.set(gauges.pipelineLag, a, ownedLag(p, t))
        if (p.watermark !== undefined && Number.isFinite(p.watermark)) {
          exporter.set(gauges.watermark, a, p.watermark / 1000)
          exporter.set(gauges.watermarkDelay, a, (now - p.watermark) / 1000)
        }
        exporter.set(gauges.openWindows, a, p.openWindows)
        exporter.set(gauges.stateSize, a, p.stateSize)
        exporter.set(gauges.assigned, a, p.assigned.size)
        const pr = r.pipelines.find((x) => x.name === p.name)
        exporter.set(gauges.pipelineReady, a, pr?.ready === true ? 1 : 0)
        exporter.set(gauges.stalled, a, pr?.stalled === true ? 1 : 0)
        exporter.total(counters.commits, a, p.commits)
        for (const [label, m] of p.tallies) {
          for (const [key, value] of m) exporter.set(gauges.tally, { ...a, tally: label, key }, value)
        }
      }
      exporter.set(gauges.ready, {}, r.ready ? 1 : 0)
      if (broker.reachable !== undefined) exporter.set(gauges.brokerReachable, {}, broker.reachable ? 1 : 0)
      for (const c of connections) {
        const a = { group: c.groupId }
        exporter.set(gauges.consumerConnected, a, isConnected(c, now, settings.brokerContactTimeoutMs) ? 1 : 0)
        exporter.total(counters.crashes, a, c.crashes)
        exporter.total(counters.requestTimeouts, a, c.requestTimeouts)
        exporter.total(counters.groupJoins, a, c.rebalances)
      }
      for (const tb of yield* online.tables) {
        exporter.set(
          gauges.onlineRows,
          { feature_group: `${tb.featureGroup.name}_${tb.featureGroup.version}` },
          tb.rows.size
        )
      }
      exporter.set(gauges.uptime, {}, (now - startedAt) / 1000)
      yield* exporter.flush()
    })

    yield* Effect.forkIn(sample.pipe(Effect.repeat(Schedule.spaced("1 second"))), scope)
    yield* Effect.forkIn(
      probe.pipe(Effect.repeat(Schedule.spaced(settings.lagPollIntervalMs)), Effect.delay(500)),
      scope
    )

    return HealthMonitor.of({ readiness, status, refreshMetrics })
  })
