import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { transactionsSettings } from "../../src/config/PipelineConfig.ts"
import { FeatureStore } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runTransactionsPipeline } from "../../src/pipelines/transactions/TransactionsPipeline.ts"
import { readTopic } from "../support/FeatureGroupTopic.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { startService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { settingsFrom } from "../support/TestSettings.ts"
import {
  awaitCommitted,
  featureRows,
  produceRecords,
  simulateTransactions,
  transactionsServiceEnv,
  validTransactions
} from "../support/TransactionsFixture.ts"

/**
 * The online store's column limits, through the running pipeline: a row whose string does not fit its
 * online column is dead-lettered with the feature and the limit, and never produced; a feature group
 * created with a wider column (`setup feature-group --online-type`) takes it.
 */

const hopsworksFeatureStore = (hw: LocalHopsworks) =>
  FeatureStore.layer.pipe(
    Layer.provide(HopsworksClient.layer),
    Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))
  )

const localHopsworks = () =>
  makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: uniqueName("proj").replace("-", "_") })

/** Runs `node dist/main.js ...args` to its end: exit code and output. */
const runCommand = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.promise(async () => {
    const child = startService(args, env)
    const code = await child.exited
    return { code, output: child.output() }
  })

describe("online column limits of the feature group", () => {
  it.live(
    "a string longer than its online column is dead-lettered naming feature and limit, and never reaches the topic",
    () =>
      Effect.gen(function*() {
        const hw = yield* localHopsworks()
        const topic = uniqueName("online-limits")
        const groupId = uniqueName("online-limits-group")
        const good = validTransactions(simulateTransactions(60, 0, 17))
        const base = good[0]!
        const tooLong = { ...base, transaction_id: "too-long", category: "c".repeat(101) }
        // 100 characters, 200 UTF-16 units, 400 bytes: fits varchar(100)
        const atLimit = { ...base, transaction_id: "at-limit", category: "😀".repeat(100) }
        const input = [...good.slice(0, 30), tooLong, atLimit, ...good.slice(30)]
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
        yield* produceRecords(topic, input.map((t) => ({ key: t.user_id, value: JSON.stringify(t) })))

        const fiber = yield* runTransactionsPipeline(
          settingsFrom(transactionsSettings, { KAFKA_TOPIC: topic, KAFKA_GROUP_ID: groupId })
        ).pipe(
          Effect.scoped,
          Effect.provide(Layer.mergeAll(hopsworksFeatureStore(hw), PipelineRegistry.layer)),
          Effect.forkChild
        )
        yield* awaitCommitted(groupId, topic, input.length)
        const dlq = yield* readTopic(`${topic}.dlq`, (rs) => rs.length >= 1)
        const rows = yield* featureRows(hw)
        assert.isUndefined(fiber.pollUnsafe(), "the pipeline is still running")
        yield* Fiber.interrupt(fiber)

        assert.deepStrictEqual(dlq.map((r) => JSON.parse(r.value!.toString()).transaction_id), ["too-long"])
        const reason = dlq[0]!.headers["tributary.error.reason"]?.toString() ?? ""
        assert.include(reason, "\"category\"")
        assert.include(reason, "101 characters do not fit the online column varchar(100)")
        const written = rows.map((r) => r["transaction_id"])
        assert.notInclude(written, "too-long", "never produced to the feature group's topic")
        assert.sameMembers(written as Array<string>, [...good, atLimit].map((t) => t.transaction_id))
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )

  it.live(
    "setup feature-group --online-type category=varchar(1000): the feature group gets the wider column and the row goes through",
    () =>
      Effect.gen(function*() {
        const hw = yield* localHopsworks()
        const topic = uniqueName("online-wide")
        const groupId = uniqueName("online-wide-group")
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId)

        const unknown = yield* runCommand(
          ["setup", "feature-group", "transactions", "--online-type", "colour=varchar(1000)"],
          env
        )
        assert.notStrictEqual(unknown.code, 0)
        assert.include(unknown.output, "--online-type names colour, which is not among its features")
        assert.strictEqual(hw.featureGroups().length, 0, "nothing created")

        const setup = yield* runCommand(
          ["setup", "feature-group", "transactions", "--online-type", "category=varchar(1000)"],
          env
        )
        assert.strictEqual(setup.code, 0, setup.output)
        const features = hw.featureGroups()[0]!.dto["features"] as Array<{ name: string; onlineType: string }>
        assert.strictEqual(features.find((f) => f.name === "category")?.onlineType, "varchar(1000)")
        assert.strictEqual(features.find((f) => f.name === "user_id")?.onlineType, "varchar(100)")

        const base = validTransactions(simulateTransactions(1, 0, 5))[0]!
        const wide = { ...base, transaction_id: "wide", category: "c".repeat(1000) }
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
        yield* produceRecords(topic, [{ key: wide.user_id, value: JSON.stringify(wide) }])
        const fiber = yield* runTransactionsPipeline(
          settingsFrom(transactionsSettings, { KAFKA_TOPIC: topic, KAFKA_GROUP_ID: groupId })
        ).pipe(
          Effect.scoped,
          Effect.provide(Layer.mergeAll(hopsworksFeatureStore(hw), PipelineRegistry.layer)),
          Effect.forkChild
        )
        yield* awaitCommitted(groupId, topic, 1)
        const rows = yield* featureRows(hw)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(rows.map((r) => [r["transaction_id"], String(r["category"]).length]), [["wide", 1000]])
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )
})

describe("materialize command", () => {
  it.live(
    "refuses with the running execution named and a non-zero exit; with --checkpoint, passes it after the defaults",
    () =>
      Effect.gen(function*() {
        const hw = yield* localHopsworks()
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, uniqueName("mat"), uniqueName("mat-group"))
        assert.strictEqual((yield* runCommand(["setup", "feature-group", "transactions"], env)).code, 0)

        const first = yield* runCommand(["materialize", "transactions", "--version", "1"], env)
        assert.strictEqual(first.code, 0, first.output)
        const [running] = hw.executions()
        const refused = yield* runCommand(["materialize", "transactions"], env)
        assert.notStrictEqual(refused.code, 0)
        assert.include(refused.output, `already has execution ${running!.id} running`)
        assert.include(refused.output, "transactions_1_offline_fg_materialization")
        assert.strictEqual(hw.executions().length, 1, "no second execution")

        const bad = yield* runCommand(["materialize", "transactions", "--checkpoint", "0:12,x"], env)
        assert.notStrictEqual(bad.code, 0)
        assert.include(bad.output, "\"x\" is not partition:offset")

        hw.finishExecutions()
        const resumed = yield* runCommand(["materialize", "transactions", "--checkpoint", "0:12,1:40"], env)
        assert.strictEqual(resumed.code, 0, resumed.output)
        assert.isTrue(hw.executionArgs()[1]!.endsWith(` -initialCheckPointString ${hw.onlineTopic},0:12,1:40`))
      }).pipe(Effect.scoped),
    180_000
  )
})
