import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type FeatureGroupSpec, HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { kafkaBootstrap, uniqueName } from "../support/TestKafka.ts"

/**
 * Calls that create something (a feature group, an execution) against the stand-in made slow, made
 * to lose its answers, or with an execution still running: nothing is ever made twice.
 */

const spec: FeatureGroupSpec = {
  name: "events",
  version: 1,
  primaryKey: ["id"],
  eventTime: "ts",
  features: [
    { name: "id", type: "string" },
    { name: "ts", type: "timestamp" },
    { name: "note", type: "string", onlineType: "varchar(2000)" }
  ]
}

const local = () =>
  makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: uniqueName("proj").replace("-", "_") })

const withClient = <A, E>(
  hw: LocalHopsworks,
  f: (client: HopsworksClient["Service"]) => Effect.Effect<A, E>,
  overrides: Parameters<LocalHopsworks["configLayer"]>[0] = {}
) =>
  HopsworksClient.use(f).pipe(
    Effect.provide(
      HopsworksClient.layer.pipe(Layer.provide(Layer.mergeAll(hw.configLayer(overrides), NodeHttpClient.layerUndici))),
      { local: true }
    )
  )

const posts = (hw: LocalHopsworks, path: RegExp) =>
  hw.requests().filter((r) => r.method === "POST" && path.test(r.path))

const createPath = /\/featuregroups$/
const executionsPath = /\/jobs\/[^/]+\/executions$/

describe("creating calls are never repeated blindly", () => {
  it.live("a create answered after the request timeout is waited for: one POST, no retry", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.answerLate(1, 1_500, "POST", createPath)
      // reads give up after 300 ms; the create is not a read
      const fg = yield* withClient(hw, (client) => client.resolveFeatureGroup(spec), { requestTimeoutMs: 300 })
      assert.strictEqual(fg.name, "events")
      assert.strictEqual(posts(hw, createPath).length, 1)
      assert.strictEqual(hw.featureGroups().length, 1)
    }))

  it.live("a create whose answer is lost (connection cut after the work): looked up, found, not POSTed again", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.answerLate(1, "never", "POST", createPath)
      const fg = yield* withClient(hw, (client) => client.resolveFeatureGroup(spec))
      assert.strictEqual(hw.featureGroups().length, 1)
      assert.strictEqual(fg.featureGroupId, hw.featureGroups()[0]!.dto.id)
      assert.strictEqual(posts(hw, createPath).length, 1, "one POST: the lookup found what it made")
      const gets = hw.requests().filter((r) => r.method === "GET" && r.path.endsWith("/featuregroups/events"))
      assert.strictEqual(gets.length, 2, "one lookup before the POST, one after the lost answer")
    }))

  it.live("a create that failed with 503 before doing anything is looked up, then POSTed again", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.failNext(1, 503, createPath)
      yield* withClient(hw, (client) => client.resolveFeatureGroup(spec))
      assert.deepStrictEqual(posts(hw, createPath).map((r) => r.status), [503, 201])
      assert.strictEqual(hw.featureGroups().length, 1)
    }))

  it.live("the online type asked for is sent, and the server's answer keeps it", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const fg = yield* withClient(hw, (client) => client.resolveFeatureGroup(spec))
      const body = JSON.parse(posts(hw, createPath)[0]!.body) as { features: Array<Record<string, unknown>> }
      assert.deepStrictEqual(body.features.map((f) => f["onlineType"]), [undefined, undefined, "varchar(2000)"])
      assert.deepStrictEqual(fg.features.map((f) => f.onlineType), ["varchar(100)", "timestamp", "varchar(2000)"])
    }))
})

describe("the materialization job", () => {
  const resolveAndStart = (
    hw: LocalHopsworks,
    options?: Parameters<HopsworksClient["Service"]["startMaterialization"]>[1]
  ) =>
    withClient(
      hw,
      (client) => Effect.flatMap(client.resolveFeatureGroup(spec), (fg) => client.startMaterialization(fg, options))
    )

  it.live("is not started while an execution runs (MaterializationRunning names it); once it finished, it is", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const first = yield* resolveAndStart(hw)
      const error = yield* Effect.flip(resolveAndStart(hw))
      assert.strictEqual(error.reason._tag, "MaterializationRunning")
      assert.include(error.message, `execution ${first.executionId} running`)
      assert.include(error.message, "events_1_offline_fg_materialization")
      assert.strictEqual(hw.executions().length, 1)
      hw.finishExecutions()
      const second = yield* resolveAndStart(hw)
      assert.notStrictEqual(second.executionId, first.executionId)
      assert.strictEqual(hw.executions().length, 2)
    }))

  it.live("a start whose answer is lost is found running and not started again", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.answerLate(1, "never", "POST", executionsPath)
      const execution = yield* resolveAndStart(hw)
      assert.deepStrictEqual(hw.executions().map((e) => e.id), [execution.executionId])
      assert.strictEqual(posts(hw, executionsPath).length, 1)
    }))

  it.live("a checkpoint is passed after the job's default arguments, as -initialCheckPointString topic,p:o,...", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      yield* resolveAndStart(hw, { initialCheckpoint: [{ partition: 0, offset: 12 }, { partition: 2, offset: 40 }] })
      const [args] = hw.executionArgs()
      assert.match(args!, /^-op offline_fg_materialization -path \S+ -initialCheckPointString /)
      assert.isTrue(args!.endsWith(` -initialCheckPointString ${hw.onlineTopic},0:12,2:40`))
      hw.finishExecutions()
      yield* resolveAndStart(hw)
      assert.strictEqual(posts(hw, executionsPath)[1]!.body, "", "without one: an empty body, the defaults")
    }))
})

describe("403: a missing scope and a missing project role say different things", () => {
  it.live("320003: MissingProjectRole, pointing at the project's members, not at the key", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.forbidRole("FEATURESTORE")
      const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(spec)).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "MissingProjectRole")
      assert.include(error.message, "errorCode 320003")
      assert.include(error.message, `project "${hw.project}"`)
      assert.include(error.message, "scopes are not the problem")
      assert.notInclude(error.message, hw.apiKey)
    }))

  it.live("320004: MissingScope names the scope", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.forbidScope("FEATURESTORE")
      const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(spec)).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "MissingScope")
      assert.include(error.message, "lacks the FEATURESTORE scope")
    }))
})

describe("names and online types, checked before asking, and refused by the stand-in as by the server", () => {
  for (
    const [what, bad, expected] of [
      [
        "a feature name starting with _",
        { ...spec, features: [...spec.features, { name: "_x", type: "int" }] },
        "\"_x\""
      ],
      [
        "a feature name starting with a digit",
        { ...spec, features: [...spec.features, { name: "1x", type: "int" }] },
        "\"1x\""
      ],
      ["a feature group name starting with a digit", { ...spec, name: "1events" }, "the name must start"],
      [
        "a string feature with an integer online type",
        { ...spec, features: [...spec.features, { name: "s", type: "string", onlineType: "int" }] },
        "online type int does not go with type string"
      ]
    ] as const
  ) {
    it.live(`${what}: InvalidFeatureGroupSpec, no request`, () =>
      Effect.gen(function*() {
        const hw = yield* local()
        const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(bad)).pipe(Effect.flip)
        assert.strictEqual(error.reason._tag, "InvalidFeatureGroupSpec")
        assert.include(error.message, expected)
        assert.strictEqual(hw.requests().length, 0)
      }))
  }

  it.live("the stand-in answers 400 to unknown fields, bad names and bad online types", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      // a valid body, as the client sends it, is accepted; the same with one change is not
      yield* withClient(hw, (client) => client.resolveFeatureGroup(spec))
      const valid = JSON.parse(posts(hw, createPath)[0]!.body) as Record<string, unknown> & {
        features: Array<Record<string, unknown>>
      }
      const post = (body: unknown) =>
        Effect.promise(async () => {
          const path = `/project/${hw.projectId}/featurestores/${hw.featureStoreId}/featuregroups`
          const res = await fetch(`${hw.url}/hopsworks-api/api${path}`, {
            method: "POST",
            headers: { authorization: `ApiKey ${hw.apiKey}`, "content-type": "application/json" },
            body: JSON.stringify(body)
          })
          return { status: res.status, text: await res.text() }
        })
      const feature = valid.features[0]!
      const cases = [
        [{ ...valid, version: 2, colour: "red" }, "Unrecognized field \\\"colour\\\""],
        [{ ...valid, version: 3, features: [{ ...feature, size: 1 }, ...valid.features.slice(1)] }, "features[0].size"],
        [{ ...valid, version: 4, features: [...valid.features, { ...feature, name: "_z" }] }, "_z"],
        [
          { ...valid, version: 5, features: [...valid.features, { ...feature, name: "s", onlineType: "bigint" }] },
          "bigint"
        ],
        [{ ...valid, name: "2events" }, "2events"]
      ] as const
      for (const [body, expected] of cases) {
        const answer = yield* post(body)
        assert.strictEqual(answer.status, 400, answer.text)
        assert.include(answer.text, expected)
      }
      assert.strictEqual(hw.featureGroups().length, 1)
    }))
})
