/**
 * Child process of bench/run.ts: runs ONE Tributary pipeline (transactions or card-aggregates) with
 * the production code paths — kafkajs source/sink layers, the local Hopsworks stand-in pointing the
 * feature-group writer at the real broker — first on the warm-up topic, then on the measured topic,
 * in the same process (so the measured run has a warm JIT), and reports one BENCH_RESULT line each.
 * With `live`, it then runs the pipeline on the latency topic until SIGTERM.
 *
 *   node bench/systems/tributary.ts '<json config>'     (see ChildConfig)
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Fiber, Layer, Option, References, type Scope } from "effect"
import type { CardAggregatesSettings } from "../../src/config/CardAggregatesConfig.ts"
import { KafkaConfig } from "../../src/config/KafkaConfig.ts"
import { deadLetterMaxBytes, type DeadLetterSettings } from "../../src/config/PipelineConfig.ts"
import { FeatureStore, writerFor } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSinkLayer, kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { PipelineRegistry, type PipelineStats } from "../../src/observability/PipelineStats.ts"
import {
  decodeCardTransactions,
  makeCardAggregatesEngine,
  runCardAggregatesPipeline,
  toCardAggregateRow,
  toCardWindowRecord
} from "../../src/pipelines/card-aggregates/CardAggregatesPipeline.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { windowedJob } from "../../src/runner/Job.ts"
import { runJob } from "../../src/runner/PipelineRunner.ts"
import { makeLocalHopsworks } from "../../test/support/LocalHopsworks.ts"
import { emitResult, procMemory, READY_LINE, selfCpuSeconds, sum } from "../lib/common.ts"
import { makeOccupancy } from "../lib/occupancy.ts"

export interface RunSpec {
  readonly tag: string
  /** Source topic. */
  readonly topic: string
  /** Local Hopsworks project: the feature group's topic is `<project>_onlinefs` (created beforehand). */
  readonly project: string
  /** Where JSON rows go in the card-aggregates "engine" variant. */
  readonly outTopic: string
  /** High watermarks of the source topic: the run is done when everything up to them is processed. */
  readonly endOffsets: ReadonlyArray<number>
  /** Group mode (several processes): the group id shared by every member, chosen by run.ts. */
  readonly groupId?: string | undefined
}

export interface ChildConfig {
  readonly pipeline: "transactions" | "cards"
  /** cards only: the real pipeline (Avro to the feature group) or the window engine with JSON rows out. */
  readonly cardImpl: "pipeline" | "engine"
  readonly bootstrap: string
  readonly runs: ReadonlyArray<RunSpec>
  readonly live?: (Omit<RunSpec, "endOffsets" | "tag"> & { readonly groupId?: string | undefined }) | undefined
  /**
   * Group mode: this process is one of several members of one consumer group. Each run waits for
   * "go" on stdin (after printing `BENCH_WAIT <tag>`), reports its local completion on change
   * (`BENCH_PROGRESS {...}`), and ends when run.ts writes "stop" (the whole group is done).
   */
  readonly coordinated?: boolean | undefined
  /** The client behind plain produces (KAFKA_PRODUCER_CLIENT); kafkajs when unset. */
  readonly producerClient?: "kafkajs" | "platformatic" | undefined
}

const config = JSON.parse(process.argv[2]!) as ChildConfig
// Stage occupancy of the measured run (see bench/lib/occupancy.ts).
const occupancy = makeOccupancy()
// The feature store builds its own sink (on the cluster Hopsworks names) and reads this variable.
process.env["KAFKA_PRODUCER_CLIENT"] = config.producerClient ?? "kafkajs"

const deadLetters: DeadLetterSettings = {
  policy: "dead-letter",
  topic: Option.none(),
  maxRecordBytes: deadLetterMaxBytes
}

const cardSettings = (topic: string, groupId: string): CardAggregatesSettings => ({
  topic,
  groupId,
  featureGroupName: "card_transactions_10m_agg",
  featureGroupVersion: 1,
  windowLengthMinutes: 10,
  windowSlideMinutes: 1,
  outOfOrdernessSeconds: 60,
  idleTimeoutSeconds: 300,
  allowedLatenessSeconds: 0,
  // Flink's SlidingEventTimeWindows has no "window after the last activity" firing: off for parity.
  emitEmptyWindows: false,
  lateRecordsTopic: Option.none(),
  windowStartFeature: false,
  deadLetters,
  input: { format: "json" }
})

/** The real card-aggregates pipeline: Avro rows to the feature group `card_transactions_10m_agg`. */
const realCardAggregates = (topic: string, groupId: string, _outTopic: string) => {
  const settings = cardSettings(topic, groupId)
  return runCardAggregatesPipeline(settings, { engine: occupancy.timedEngine(makeCardAggregatesEngine(settings)) })
}

/** The window engine through the runner, with JSON rows out (exactly what the Flink job writes). */
const engineCardAggregates = (topic: string, groupId: string, outTopic: string) =>
  Effect.gen(function*() {
    const sink = yield* KafkaSink
    const settings = cardSettings(topic, groupId)
    return yield* runJob(windowedJob({
      name: "card-aggregates",
      source: { groupId, topics: [topic], deadLetters },
      decode: decodeCardTransactions,
      windows: {
        engine: occupancy.timedEngine(makeCardAggregatesEngine(settings)),
        toWindowRecord: toCardWindowRecord
      },
      output: {
        _tag: "AtLeastOnce",
        write: (fired) => {
          const rows = fired.map((f) => toCardAggregateRow(f, true))
          return Effect.as(
            sink.send(rows.map((r) => ({ topic: outTopic, key: String(r.cc_num), value: JSON.stringify(r) }))),
            rows
          )
        }
      }
    }))
  })

// Swapping the card-aggregates implementation is this one line (or --card-impl).
const cardAggregates = config.cardImpl === "engine" ? engineCardAggregates : realCardAggregates

const pipelineFor = (
  topic: string,
  groupId: string,
  outTopic: string
): Effect.Effect<void, unknown, FeatureStore | KafkaSink | KafkaSource | KafkaAdmin | PipelineRegistry | Scope.Scope> =>
  config.pipeline === "transactions"
    ? runTransactionsPipeline({
      topic,
      groupId,
      featureGroupName: "transactions",
      featureGroupVersion: 1,
      deadLetters,
      input: { format: "json" }
    })
    : cardAggregates(topic, groupId, outTopic)

const statsName = config.pipeline === "transactions" ? "transactions" : "card-aggregates"

// One client for consuming and plain produces (transactions and admin stay on kafkajs), as KAFKA_CLIENT does.
const kafkaLayer = Layer.mergeAll(kafkaSourceLayer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
  Layer.provideMerge(KafkaClient.layer),
  Layer.provideMerge(KafkaConfig.layerWith({
    brokers: [config.bootstrap],
    clientId: "tributary-bench",
    client: config.producerClient ?? "kafkajs",
    producerClient: config.producerClient ?? "kafkajs"
  }))
)

/**
 * FeatureStore.layer's parts (the feature group from Hopsworks, its own producer, the production
 * writer) with that producer's sends timed, which splits the write into encode and produce.
 */
const timedFeatureStore = Layer.effect(
  FeatureStore,
  Effect.gen(function*() {
    const client = yield* HopsworksClient
    const connection = yield* client.kafkaConnection()
    const sink = yield* Layer.build(Layer.fresh(
      kafkaSinkLayer.pipe(
        Layer.provide(KafkaClient.layer),
        Layer.provideMerge(KafkaConfig.layerWith({
          brokers: [...connection.bootstrapServers],
          clientId: "tributary-feature-store",
          producerClient: config.producerClient ?? "kafkajs"
        }))
      )
    )).pipe(Effect.map(Context.get(KafkaSink)))
    const timed = occupancy.timedSink(sink)
    return FeatureStore.of({
      featureGroup: (spec) =>
        Effect.gen(function*() {
          const featureGroup = yield* client.resolveFeatureGroup(spec)
          const ingestion = featureGroup.onlineEnabled
            ? yield* client.createOnlineIngestion(featureGroup, null)
            : Option.none()
          return writerFor(featureGroup, ingestion, timed)
        }),
      materialize: () => Effect.die(new Error("the bench does not materialize"))
    })
  })
)

/** Starts the pipeline for `spec` with its own local Hopsworks project and stats registry. */
const start = (spec: { topic: string; project: string; outTopic: string }, groupId: string) =>
  Effect.gen(function*() {
    const hw = yield* makeLocalHopsworks({ kafkaBootstrap: config.bootstrap, project: spec.project })
    const ctx = yield* Layer.build(
      Layer.mergeAll(
        timedFeatureStore.pipe(
          Layer.provide(HopsworksClient.layer),
          Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))
        ),
        PipelineRegistry.layer
      )
    )
    const registry = Context.get(ctx, PipelineRegistry)
    const source = occupancy.timedSource(yield* KafkaSource)
    const fiber = yield* pipelineFor(spec.topic, groupId, spec.outTopic).pipe(
      Effect.scoped,
      Effect.provideContext(ctx),
      Effect.provideService(KafkaSource, source),
      Effect.withTracer(occupancy.tracer),
      Effect.forkChild
    )
    const stats = Effect.map(registry.all, (all): PipelineStats | undefined => all.find((s) => s.name === statsName))
    return { fiber, stats }
  })

/** True when the group's commits cover every record up to `endOffsets` (windowed: the checkpoint's end offset). */
const committedThrough = (groupId: string, topic: string, endOffsets: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const committed = yield* (yield* KafkaAdmin).committedOffsets(groupId, topic)
    return endOffsets.every((end, partition) => {
      const c = committed.find((x) => x.partition === partition)
      if (end === 0) return true
      if (c === undefined) return false
      if (Number(c.offset ?? -1) >= end) return true
      try {
        const e = (JSON.parse(c.metadata ?? "{}") as { e?: unknown }).e
        return typeof e === "number" && e >= end
      } catch {
        return false
      }
    })
  })

const measured = (spec: RunSpec) =>
  Effect.scoped(Effect.gen(function*() {
    const groupId = `bench-${spec.tag}-${Date.now()}`
    const expected = sum(spec.endOffsets)
    const tStart = Date.now()
    const { fiber, stats } = yield* start(spec, groupId)
    let tFirst: number | undefined
    // Monotonic clock (µs), the one V8 stamps .cpuprofile samples with: lets the profile summary
    // keep only the measured window.
    let hrFirst = 0n
    let hrEnd = 0n
    let cpuFirst = 0
    let tEnd = 0
    let cpuEnd = 0
    while (true) {
      const s = yield* stats
      const recordsIn = s?.recordsIn ?? 0
      if (tFirst === undefined && recordsIn > 0) {
        tFirst = Date.now()
        hrFirst = process.hrtime.bigint()
        cpuFirst = selfCpuSeconds()
        occupancy.start()
      }
      if (recordsIn >= expected) {
        const done = config.pipeline === "transactions"
          ? (s?.recordsOut ?? 0) >= expected
          : yield* committedThrough(groupId, spec.topic, spec.endOffsets)
        if (done) {
          tEnd = Date.now()
          hrEnd = process.hrtime.bigint()
          cpuEnd = selfCpuSeconds()
          break
        }
      }
      if (fiber.pollUnsafe() !== undefined) return yield* Effect.die(new Error("pipeline stopped early"))
      yield* Effect.sleep(config.pipeline === "transactions" ? "2 millis" : "10 millis")
    }
    const wallMs = tEnd - tFirst!
    const stages = occupancy.stop(wallMs, tEnd)
    // Windowed runs end when the commits cover the input; the last output was acknowledged earlier
    // (the commit waits for the committer's interval). Both are reported; recordsPerSec is the former.
    const last = occupancy.lastOutput()
    const toLastOutput = config.pipeline === "cards" && last !== undefined
      ? {
        wallMs: last.at - tFirst!,
        recordsPerSec: expected / ((last.at - tFirst!) / 1000),
        recordsPerCpuSec: expected / (last.cpuSec - cpuFirst)
      }
      : undefined
    const s = yield* stats
    const cpuSec = cpuEnd - cpuFirst
    emitResult({
      system: `tributary-${config.pipeline}`,
      impl: config.pipeline === "cards" ? config.cardImpl : "pipeline",
      tag: spec.tag,
      records: expected,
      recordsIn: s?.recordsIn,
      recordsOut: s?.recordsOut,
      deadLettered: s?.deadLettered,
      late: s?.late,
      commits: s?.commits,
      firstAt: tFirst,
      monoFirstUs: Number(hrFirst / 1000n),
      monoEndUs: Number(hrEnd / 1000n),
      endAt: tEnd,
      startupMs: tFirst! - tStart,
      wallMs,
      recordsPerSec: expected / (wallMs / 1000),
      cpuSec,
      recordsPerCpuSec: expected / cpuSec,
      cpuUtilisation: cpuSec / (wallMs / 1000),
      vmHwmKb: procMemory("self")?.hwmKb,
      ...(toLastOutput === undefined ? {} : { toLastOutput }),
      occupancy: stages
    })
    yield* Fiber.interrupt(fiber).pipe(Effect.timeout("30 seconds"), Effect.ignore)
  }))

// ------------------------------------------------------------------------------------------------
// group mode: one member of K, coordinated by run.ts over stdin/stdout

const stdinLines: Array<string> = []
if (config.coordinated === true) {
  let buf = ""
  process.stdin.on("data", (d: Buffer) => {
    buf += d.toString()
    let i: number
    while ((i = buf.indexOf("\n")) >= 0) {
      stdinLines.push(buf.slice(0, i).trim())
      buf = buf.slice(i + 1)
    }
  })
}
const takeLine = (line: string) => {
  const i = stdinLines.indexOf(line)
  if (i < 0) return false
  stdinLines.splice(i, 1)
  return true
}

/**
 * The group is done when its commits cover every record up to the end offsets, and this member has
 * no output left to acknowledge. Commits, not this member's own offsets: a partition may have been
 * finished by another member before a rebalance handed it over.
 */
const groupDone = (s: PipelineStats | undefined, spec: RunSpec, groupId: string) =>
  Effect.gen(function*() {
    if (config.pipeline === "transactions" && (s === undefined || s.recordsOut < s.recordsIn)) return false
    return yield* committedThrough(groupId, spec.topic, spec.endOffsets)
  })

const member = (spec: RunSpec) =>
  Effect.scoped(Effect.gen(function*() {
    const groupId = spec.groupId!
    process.stdout.write(`BENCH_WAIT ${spec.tag}\n`)
    while (!takeLine("go")) yield* Effect.sleep("1 millis")
    const tStart = Date.now()
    const { fiber, stats } = yield* start(spec, groupId)
    let tFirst: number | undefined
    let cpuFirst = 0
    let done = false
    let doneAt: number | undefined
    let cpuDone = 0
    // Transactions end at this member's last acknowledged output (commits trail it by up to 1 s).
    let lastOut = 0
    let lastOutAt: number | undefined
    let cpuAtLastOut = 0
    let checkedAt = 0
    let lastReport = ""
    while (!takeLine("stop")) {
      const s = yield* stats
      if (tFirst === undefined && (s?.recordsIn ?? 0) > 0) {
        tFirst = Date.now()
        cpuFirst = selfCpuSeconds()
      }
      if ((s?.recordsOut ?? 0) > lastOut) {
        lastOut = s!.recordsOut
        lastOutAt = Date.now()
        cpuAtLastOut = selfCpuSeconds()
      }
      if (!done && Date.now() - checkedAt >= 50) {
        checkedAt = Date.now()
        if (yield* groupDone(s, spec, groupId)) {
          done = true
          const transactions = config.pipeline === "transactions"
          doneAt = transactions ? lastOutAt : Date.now()
          cpuDone = transactions && lastOutAt !== undefined ? cpuAtLastOut : selfCpuSeconds()
        }
      }
      const assigned = [...(s?.assigned ?? [])].map((k) => Number(k.slice(k.lastIndexOf(":") + 1))).sort()
      const report = JSON.stringify({ tag: spec.tag, done, at: doneAt, assigned })
      if (report !== lastReport) {
        process.stdout.write(`BENCH_PROGRESS ${report}\n`)
        lastReport = report
      }
      if (fiber.pollUnsafe() !== undefined) return yield* Effect.die(new Error("pipeline stopped early"))
      yield* Effect.sleep(config.pipeline === "transactions" ? "2 millis" : "10 millis")
    }
    const s = yield* stats
    const cpuSec = tFirst === undefined ? 0 : cpuDone - cpuFirst
    emitResult({
      system: `tributary-${config.pipeline}`,
      impl: config.pipeline === "cards" ? config.cardImpl : "pipeline",
      tag: spec.tag,
      pid: process.pid,
      groupId,
      recordsIn: s?.recordsIn,
      recordsOut: s?.recordsOut,
      deadLettered: s?.deadLettered,
      late: s?.late,
      commits: s?.commits,
      rebalances: s?.rebalances,
      assigned: [...(s?.assigned ?? [])],
      startAt: tStart,
      firstAt: tFirst,
      doneAt,
      cpuSec,
      vmHwmKb: procMemory("self")?.hwmKb
    })
    yield* Fiber.interrupt(fiber).pipe(Effect.timeout("30 seconds"), Effect.ignore)
  }))

const live = (spec: NonNullable<ChildConfig["live"]>) =>
  Effect.scoped(Effect.gen(function*() {
    const { fiber, stats } = yield* start(spec, spec.groupId ?? `bench-live-${Date.now()}`)
    while (((yield* stats)?.assigned.size ?? 0) === 0) yield* Effect.sleep("20 millis")
    process.stdout.write(`${READY_LINE}\n`)
    yield* Fiber.join(fiber)
  }))

const program = Effect.gen(function*() {
  for (const spec of config.runs) yield* (config.coordinated === true ? member(spec) : measured(spec))
  if (config.live !== undefined) yield* live(config.live)
}).pipe(
  Effect.provide(kafkaLayer),
  Effect.provideService(References.MinimumLogLevel, "Warn")
)

process.on("SIGTERM", () => process.exit(0))
Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
