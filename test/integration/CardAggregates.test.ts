import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { Effect, Fiber, Layer, Option, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { setupCardTopicWith } from "../../src/cli/CardTopicSetup.ts"
import { materializeFeatureGroup } from "../../src/cli/MaterializeCommand.ts"
import { type CardAggregatesSettings, cardAggregatesSettings } from "../../src/config/CardAggregatesConfig.ts"
import { FeatureStore } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { headerString, type KafkaRecord, type OutgoingRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runCardAggregatesPipeline } from "../../src/pipelines/card-aggregates/CardAggregatesPipeline.ts"
import { CardTransactionsSimulator } from "../../src/simulator/CardTransactionsSimulator.ts"
import { naiveCardWindowsByCard, sameCardWindow } from "../support/CardWindowsReference.ts"
import { collectTopic } from "../support/FeatureGroupTopic.ts"
import { type LocalHopsworks, makeLocalHopsworks, type StoredFeatureGroup } from "../support/LocalHopsworks.ts"
import { mainScript } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"

const MIN = 60_000

// ---------------------------------------------------------------------------------------------
// harness

const BASE = Date.UTC(2025, 0, 1, 12, 0, 0)
const PARTITIONS = 3

const local = () =>
  makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: uniqueName("cards").replace("-", "_") })

const settingsFor = (overrides: Partial<CardAggregatesSettings>): CardAggregatesSettings =>
  settingsFrom(
    cardAggregatesSettings,
    { CARD_AGGREGATES_GROUP_ID: "card-aggregates", IDLE_TIMEOUT_SECONDS: 3_600 },
    overrides
  )

const featureStoreLayer = (hw: LocalHopsworks) =>
  Layer.mergeAll(FeatureStore.layer, PipelineRegistry.layer).pipe(
    Layer.provide(HopsworksClient.layer),
    Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))
  )

/** A disordered stream (event time = now − up to 30 s), keyed by cc_num, plus a far-future record per partition. */
const simulatedStream = (
  topic: string,
  options: { readonly records: number; readonly cards: number; readonly seed: number }
) => {
  const sim = new CardTransactionsSimulator({ seed: options.seed, cards: options.cards, maxDelayMs: 30_000 })
  const simulated = Array.from({ length: options.records }, (_, i) => sim.next(BASE + i * 600))
  const records: Array<OutgoingRecord> = simulated.map((r) => ({ topic, key: r.key, value: r.value }))
  const last = BASE + options.records * 600 + 24 * 60 * MIN
  const flush: Array<OutgoingRecord> = Array.from({ length: PARTITIONS }, (_, partition) => ({
    topic,
    partition,
    key: "0",
    value: JSON.stringify({ tid: `flush-${partition}`, datetime: last, cc_num: 0, amount: 0 })
  }))
  return { records, flush, expected: naiveCardWindowsByCard(simulated.map((r) => r.transaction)) }
}

/** Rows of one feature group, decoded by an independent avsc reader built from the subject schema the server holds. */
const decodeRows = (records: ReadonlyArray<KafkaRecord>, fg: StoredFeatureGroup) => {
  const type = avro.Type.forSchema(JSON.parse(fg.subject.schema) as avro.Schema)
  return records
    .filter((r) => headerString(r, "featureGroupId") === String(fg.dto.id))
    .map((r) => {
      assert.strictEqual(headerString(r, "subjectId"), String(fg.subject.id))
      return { ...(type.fromBuffer(r.value!) as Record<string, unknown>) }
    })
}

const byCard = (rows: ReadonlyArray<Record<string, unknown>>) => {
  const out = new Map<number, Array<Record<string, unknown>>>()
  for (const row of rows) out.set(row["cc_num"] as number, [...(out.get(row["cc_num"] as number) ?? []), row])
  return out
}

const featureGroup = (hw: LocalHopsworks, version: number) =>
  hw.featureGroups().find((fg) => fg.dto.name === "card_transactions_10m_agg" && fg.dto.version === version)

const waitFor = (what: string, condition: () => boolean, timeoutMs = 120_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("100 millis")
    }
  })

const produce = (records: ReadonlyArray<OutgoingRecord>) => Effect.flatMap(KafkaSink, (sink) => sink.send(records))

const createTopics = (...topics: ReadonlyArray<string>) =>
  Effect.flatMap(KafkaAdmin, (admin) => admin.createTopics(topics.map((topic) => ({ topic, partitions: PARTITIONS }))))

// ---------------------------------------------------------------------------------------------
// the service as a real child process

const entry = mainScript

interface Service {
  readonly child: ChildProcess
  readonly output: () => string
}

const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill(signal)
  })

const startService = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync((): Service => {
      const child = spawn(process.execPath, [entry, "run", "card-aggregates"], {
        env: { ...process.env, LOG_LEVEL: "Info", METRICS_PORT: "0", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const out: Array<string> = []
      child.stdout!.on("data", (d: Buffer) => out.push(d.toString("utf8")))
      child.stderr!.on("data", (d: Buffer) => out.push(d.toString("utf8")))
      return { child, output: () => out.join("") }
    }),
    (s) => Effect.promise(() => stop(s.child, "SIGKILL"))
  )

const serviceEnv = (hw: LocalHopsworks, topic: string, groupId: string, version: number): Record<string, string> => ({
  KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
  // small fetches: many batches and commits, so the kill lands while the service is busy
  KAFKA_MAX_BYTES_PER_PARTITION: "16384",
  HOPSWORKS_HOST: hw.host,
  HOPSWORKS_PORT: String(hw.port),
  HOPSWORKS_SCHEME: "http",
  HOPSWORKS_PROJECT: hw.project,
  HOPSWORKS_API_KEY: hw.apiKey,
  CARD_TRANSACTIONS_TOPIC: topic,
  CARD_AGGREGATES_GROUP_ID: groupId,
  CARD_FEATURE_GROUP_VERSION: String(version),
  // The crash test compares windows: the feature group carries window_start (see CardAggregateRow).
  CARD_WINDOW_START_FEATURE: "true",
  IDLE_TIMEOUT_SECONDS: "3600"
})

const windowKey = (row: Record<string, unknown>) => `${row["cc_num"]}@${row["window_start"]}`

describe("card-aggregates against real Kafka and the local Hopsworks server", () => {
  it.live("setup: source topic through Hopsworks REST (schema + topic) or the Kafka admin; FG; materialization job", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const topic = uniqueName("cc-tx")
      const hopsworks = Option.some({
        host: hw.host,
        port: hw.port,
        scheme: "http" as const,
        project: hw.project,
        apiKey: Redacted.make(hw.apiKey),
        hostnameVerification: true,
        requestTimeoutMs: 5_000,
        kafkaInternal: false
      })
      const first = yield* setupCardTopicWith({ topic, partitions: 2, replicationFactor: 1 }, hopsworks)
      const again = yield* setupCardTopicWith({ topic, partitions: 2, replicationFactor: 1 }, hopsworks)
      assert.deepStrictEqual([first.via, first.created, again.created], ["hopsworks", true, false])
      assert.deepStrictEqual(hw.topics()[0], {
        name: topic,
        numOfPartitions: 2,
        numOfReplicas: 1,
        schemaName: topic,
        schemaVersion: 1
      })
      assert.strictEqual((yield* Effect.flatMap(KafkaAdmin, (a) => a.topicOffsets(topic))).length, 2)

      const plain = uniqueName("cc-tx")
      const viaKafka = yield* setupCardTopicWith({ topic: plain, partitions: 3, replicationFactor: 1 }, Option.none())
      assert.strictEqual(viaKafka.via, "kafka")
      assert.strictEqual((yield* Effect.flatMap(KafkaAdmin, (a) => a.topicOffsets(plain))).length, 3)

      const settings = settingsFor({})
      const execution = yield* Effect.gen(function*() {
        const store = yield* FeatureStore
        const fg = yield* store.featureGroup({
          name: settings.featureGroupName,
          version: 1,
          primaryKey: ["cc_num"],
          features: [
            { name: "cc_num", type: "bigint" },
            { name: "num_trans_per_10m", type: "bigint" },
            { name: "avg_amt_per_10m", type: "double" },
            { name: "stdev_amt_per_10m", type: "double" }
          ]
        })
        assert.strictEqual(fg.featureGroup.onlineEnabled, true)
        return yield* materializeFeatureGroup("card_transactions_10m_agg", 1)
      }).pipe(Effect.provide(featureStoreLayer(hw), { local: true }))
      assert.strictEqual(execution.jobName, "card_transactions_10m_agg_1_offline_fg_materialization")
      assert.deepStrictEqual(hw.executions(), [{ job: execution.jobName, id: execution.executionId }])
    }).pipe(Effect.provide(realKafkaLayer(), { local: true })))

  it.live(
    "feature rows on the FG topic (avsc from the subject schema) equal the reference for a disordered stream",
    () =>
      Effect.gen(function*() {
        const hw = yield* local()
        const topic = uniqueName("cc-tx")
        const settings = settingsFor({ topic, groupId: uniqueName("cards") })
        const { expected, flush, records } = simulatedStream(topic, { records: 3_000, cards: 40, seed: 5 })
        yield* createTopics(topic, hw.onlineTopic)
        const fgRecords = yield* collectTopic(hw.onlineTopic)
        yield* produce(records)
        yield* produce(flush)
        const fiber = yield* Effect.forkChild(
          runCardAggregatesPipeline(settings).pipe(Effect.provide(featureStoreLayer(hw), { local: true }))
        )
        const total = [...expected.values()].reduce((n, r) => n + r.length, 0)
        yield* waitFor("the feature group", () => featureGroup(hw, 1) !== undefined)
        const fg = featureGroup(hw, 1)!
        yield* waitFor(`${total} feature rows`, () => decodeRows(fgRecords, fg).length >= total)
        yield* Effect.sleep("1500 millis") // anything extra would arrive now
        const rows = byCard(decodeRows(fgRecords, fg))
        assert.deepStrictEqual([...rows.keys()].sort((a, b) => a - b), [...expected.keys()].sort((a, b) => a - b))
        for (const [card, want] of expected) {
          const got = rows.get(card)!
          assert.strictEqual(got.length, want.length, `card ${card}: rows`)
          want.forEach((w, i) =>
            assert.isTrue(
              sameCardWindow(got[i]!, w),
              `card ${card} row ${i}: ${JSON.stringify(got[i])} vs ${JSON.stringify(w)}`
            )
          )
        }
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(realKafkaLayer(), { local: true })),
    { timeout: 120_000 }
  )

  it.live(
    "SIGKILL of the service process mid-window, then restart: the windows equal an uninterrupted run's, none missing",
    () =>
      Effect.gen(function*() {
        const hw = yield* local()
        const topic = uniqueName("cc-tx")
        const crashGroup = uniqueName("cards-crash")
        const { expected, flush, records } = simulatedStream(topic, { records: 8_000, cards: 100, seed: 9 })
        const expectedKeys = new Set([...expected.values()].flat().map((r) => `${r.cc_num}@${r.window_start}`))
        yield* createTopics(topic, hw.onlineTopic)
        const fgRecords = yield* collectTopic(hw.onlineTopic)
        const half = records.length / 2

        // Run 1: the first half of the stream; killed with SIGKILL as soon as it has written rows.
        yield* produce(records.slice(0, half))
        const first = yield* startService(serviceEnv(hw, topic, crashGroup, 1))
        yield* waitFor("the first feature rows", () => {
          const fg = featureGroup(hw, 1)
          return fg !== undefined && decodeRows(fgRecords, fg).length > 0
        }, 60_000).pipe(Effect.tapError(() => Effect.sync(() => console.log(first.output()))))
        yield* Effect.promise(() => stop(first.child, "SIGKILL"))
        const fg1 = featureGroup(hw, 1)!
        const beforeCrash = decodeRows(fgRecords, fg1).length
        const committed = yield* Effect.flatMap(KafkaAdmin, (a) => a.committedOffsets(crashGroup, topic))
        console.log(`[crash test] killed run 1 after ${beforeCrash} rows; committed: ${JSON.stringify(committed)}`)

        // The rest of the stream, then run 2 (same group: resumes from the committed safe offsets) and,
        // at the same time, an uninterrupted run over the whole stream (own group, feature group v2).
        yield* produce(records.slice(half))
        yield* produce(flush)
        const second = yield* startService(serviceEnv(hw, topic, crashGroup, 1))
        const uninterrupted = yield* startService(serviceEnv(hw, topic, uniqueName("cards-whole"), 2))
        const complete = (version: number) => () => {
          const fg = featureGroup(hw, version)
          if (fg === undefined) return false
          const seen = new Set(decodeRows(fgRecords, fg).map(windowKey))
          return [...expectedKeys].every((k) => seen.has(k))
        }
        const missing = (version: number) => {
          const fg = featureGroup(hw, version)
          const seen = new Set(fg === undefined ? [] : decodeRows(fgRecords, fg).map(windowKey))
          return [...expectedKeys].filter((k) => !seen.has(k))
        }
        yield* waitFor("run 2 to emit every window", complete(1), 120_000).pipe(
          Effect.tapError(() =>
            Effect.sync(() => {
              const m = missing(1)
              console.log(`[crash test] run 2 misses ${m.length} windows, e.g. ${m.slice(0, 20).join(", ")}`)
              console.log(`[crash test] uninterrupted misses ${missing(2).length}`)
              console.log(second.output())
            })
          )
        )
        yield* waitFor("the uninterrupted run to emit every window", complete(2), 60_000).pipe(
          Effect.tapError(() => Effect.sync(() => console.log(uninterrupted.output())))
        )
        yield* Effect.sleep("2 seconds") // anything extra would arrive now

        const crashed = decodeRows(fgRecords, fg1)
        const whole = decodeRows(fgRecords, featureGroup(hw, 2)!)
        const byWindow = (rows: ReadonlyArray<Record<string, unknown>>) => {
          const m = new Map<string, Record<string, unknown>>()
          for (const row of rows) {
            const prev = m.get(windowKey(row))
            // at-least-once: a window written again after the restart must have the same values
            if (prev !== undefined) assert.deepStrictEqual(row, prev, `re-emitted window ${windowKey(row)} differs`)
            m.set(windowKey(row), row)
          }
          return m
        }
        const crashedWindows = byWindow(crashed)
        const wholeWindows = byWindow(whole)
        console.log(
          `[crash test] run 1+2 wrote ${crashed.length} rows for ${crashedWindows.size} windows ` +
            `(${
              crashed.length - crashedWindows.size
            } re-emitted); uninterrupted: ${whole.length} rows, ${wholeWindows.size} windows`
        )
        assert.strictEqual(whole.length, wholeWindows.size, "an uninterrupted run writes each window once")
        assert.deepStrictEqual([...crashedWindows.keys()].sort(), [...wholeWindows.keys()].sort())
        for (const [k, row] of wholeWindows) {
          const { window_start: _a, ...a } = crashedWindows.get(k)!
          const { window_start: _b, ...b } = row
          assert.deepStrictEqual(a, b, `window ${k}`)
        }
        // ... and both equal the naive reference.
        assert.strictEqual(wholeWindows.size, expectedKeys.size)
        for (const want of [...expected.values()].flat()) {
          const got = wholeWindows.get(`${want.cc_num}@${want.window_start}`)!
          assert.isTrue(sameCardWindow(got, want), `${JSON.stringify(got)} vs ${JSON.stringify(want)}`)
        }
        // Per card, the last row written (what the online store keeps) is the newest window.
        for (const [card, rows] of byCard(crashed)) {
          const newest = Math.max(...rows.map((r) => r["window_start"] as number))
          assert.strictEqual(
            rows[rows.length - 1]!["window_start"],
            newest,
            `card ${card}: last write is the newest window`
          )
        }
        yield* Effect.promise(() => Promise.all([stop(second.child, "SIGTERM"), stop(uninterrupted.child, "SIGTERM")]))
      }).pipe(Effect.provide(realKafkaLayer(), { local: true })),
    { timeout: 300_000 }
  )
})
