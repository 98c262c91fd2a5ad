import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { TestClock } from "effect/testing"
import { HopsworksConfig } from "../../src/config/HopsworksConfig.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import type { HopsworksError } from "../../src/hopsworks/HopsworksError.ts"

/**
 * Which failures the client retries, on the TestClock: a scripted HttpClient answers in place of a
 * server, and records when (in test-clock time) each request arrived, so the backoff between
 * attempts is visible without waiting for it.
 */

const connectorPath = "/project/119/featurestores/67/storageconnectors/kafka_connector/byok"

type Reply = { readonly status: number; readonly body?: unknown } | "no answer"

/** The answers a project with a PLAINTEXT BYOK Kafka gives; `connector` scripts the connector lookup. */
const fakeHopsworks = (connector: (attempt: number) => Reply) => {
  const requests: Array<{ readonly path: string; readonly at: number }> = []
  const reply = (path: string): Reply => {
    if (path === "/project/getProjectInfo/fraud") return { status: 200, body: { projectId: 119, projectName: "fraud" } }
    if (path === "/project/119/featurestores/fraud_featurestore") {
      return {
        status: 200,
        body: { featurestoreId: 67, featurestoreName: "fraud_featurestore", projectId: 119, projectName: "fraud" }
      }
    }
    if (path === connectorPath) return connector(requests.filter((r) => r.path === connectorPath).length)
    return { status: 404, body: { errorCode: 100000, errorMsg: `no route for ${path}` } }
  }
  const http = HttpClient.make((request, url) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => {
      const path = url.pathname.replace(/^\/hopsworks-api\/api/, "")
      const answer = reply(path)
      requests.push({ path, at })
      if (answer === "no answer") return Effect.never
      return Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(answer.body ?? {}), {
          status: answer.status,
          headers: { "content-type": "application/json" }
        })
      ))
    })
  )
  const layer = (options: Parameters<typeof HopsworksClient.layerWith>[0] = {}) =>
    HopsworksClient.layerWith(options).pipe(
      Layer.provide(Layer.mergeAll(
        HopsworksConfig.layerWith({ host: "hopsworks.test", project: "fraud", apiKey: "k", requestTimeoutMs: 1_000 }),
        Layer.succeed(HttpClient.HttpClient, http)
      ))
    )
  return { layer, connectorRequests: () => requests.filter((r) => r.path === connectorPath).map((r) => r.at) }
}

const plaintext = {
  status: 200,
  body: { bootstrapServers: "broker:9092", securityProtocol: "PLAINTEXT", externalKafka: true }
}

/** One turn of the real event loop: the fake's response bodies are read through promises. */
const realTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Runs `effect` while moving the TestClock forward in small steps (with a real turn in between for
 * the body reads), until it is done.
 */
const onTestClock = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    for (let step = 0; fiber.pollUnsafe() === undefined; step++) {
      if (step > 10_000) return yield* Effect.die("the client never finished")
      yield* realTurn
      yield* TestClock.adjust("10 millis")
    }
    return yield* Fiber.join(fiber)
  })

const kafkaConnection = (layer: Layer.Layer<HopsworksClient, HopsworksError>) =>
  onTestClock(HopsworksClient.use((client) => client.kafkaConnection()).pipe(Effect.provide(layer, { local: true })))

/** The gaps between consecutive attempts. */
const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

describe("HopsworksClient retries", () => {
  it.effect("503 twice, then 200: three requests, spaced by the backoff on the clock", () =>
    Effect.gen(function*() {
      const hw = fakeHopsworks((attempt) => (attempt < 2 ? { status: 503, body: "busy" } : plaintext))
      const connection = yield* kafkaConnection(hw.layer())
      assert.deepStrictEqual(connection.bootstrapServers, ["broker:9092"])
      const times = hw.connectorRequests()
      assert.strictEqual(times.length, 3)
      // transientBackoff: 200 ms then 300 ms, each jittered by at most 20 %
      const [first, second] = gaps(times)
      assert.isAtLeast(first!, 160)
      assert.isAtLeast(second!, 240)
    }))

  it.effect("429 (rate limited) is retried like an outage", () =>
    Effect.gen(function*() {
      const hw = fakeHopsworks((attempt) => (attempt === 0 ? { status: 429 } : plaintext))
      const connection = yield* kafkaConnection(hw.layer())
      assert.deepStrictEqual(connection.bootstrapServers, ["broker:9092"])
      assert.strictEqual(hw.connectorRequests().length, 2)
    }))

  for (
    const [status, reason] of [
      [404, "RequestRejected"],
      [400, "RequestRejected"],
      [401, "BadApiKey"],
      [403, "MissingScope"]
    ] as const
  ) {
    it.effect(`${status}: exactly one request, ${reason}`, () =>
      Effect.gen(function*() {
        const hw = fakeHopsworks(() => ({ status, body: { errorCode: 1, errorMsg: "no" } }))
        const error = yield* Effect.flip(kafkaConnection(hw.layer()))
        assert.strictEqual(error.reason._tag, reason)
        assert.strictEqual(hw.connectorRequests().length, 1)
      }))
  }

  it.effect("503 forever: ServerError after the configured attempts, each one made", () =>
    Effect.gen(function*() {
      const hw = fakeHopsworks(() => ({ status: 503 }))
      const error = yield* Effect.flip(kafkaConnection(hw.layer({ maxAttempts: 4 })))
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.include(error.message, "HTTP 503 after 4 attempts")
      const times = hw.connectorRequests()
      assert.strictEqual(times.length, 4)
      gaps(times).forEach((gap, i) => assert.isAtLeast(gap, 200 * 1.5 ** i * 0.8))
    }))

  it.effect("no answer: each attempt times out on the clock, then Unreachable", () =>
    Effect.gen(function*() {
      const hw = fakeHopsworks(() => "no answer")
      const error = yield* Effect.flip(kafkaConnection(hw.layer({ maxAttempts: 3 })))
      assert.strictEqual(error.reason._tag, "Unreachable")
      assert.include(error.message, "after 3 attempts")
      assert.include(error.message, "no answer within 1000 ms")
      const times = hw.connectorRequests()
      assert.strictEqual(times.length, 3)
      // each attempt waited out the 1 s request timeout before the backoff began
      gaps(times).forEach((gap) => assert.isAtLeast(gap, 1_000))
    }))
})
