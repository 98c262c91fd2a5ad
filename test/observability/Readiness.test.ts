import { assert, describe, it } from "@effect/vitest"
import { assessReadiness, type PipelineObservation, type ReadinessInput } from "../../src/observability/Readiness.ts"

const now = 1_000_000
const pipeline = (p: Partial<PipelineObservation> = {}): PipelineObservation => ({
  name: "transactions",
  assignedPartitions: 3,
  lag: 0,
  lagSince: undefined,
  lastProgressAt: now - 1_000,
  startedAt: now - 60_000,
  joinedGroup: true,
  ...p
})
const input = (i: Partial<ReadinessInput> = {}): ReadinessInput => ({
  now,
  stallTimeoutMs: 30_000,
  brokerContactTimeoutMs: 10_000,
  broker: { reachable: true, checkedAt: now, error: undefined },
  connections: [{ groupId: "g", connected: true, lastContactAt: now - 2_000, lastError: undefined }],
  pipelines: [pipeline()],
  ...i
})

describe("readiness rules", () => {
  it("ready: broker answers, consumers connected, partitions assigned, no stall", () => {
    const r = assessReadiness(input())
    assert.isTrue(r.ready)
    assert.deepStrictEqual(r.reasons, [])
  })

  it("not ready when the brokers do not answer, naming the error", () => {
    const r = assessReadiness(input({ broker: { reachable: false, checkedAt: now, error: "Connection error" } }))
    assert.isFalse(r.ready)
    assert.deepStrictEqual(r.reasons, ["Kafka brokers unreachable: Connection error"])
    assert.isFalse(r.pipelines[0]!.ready)
  })

  it("not ready when a consumer has not heard from its brokers within the contact timeout", () => {
    const r = assessReadiness(input({
      connections: [{ groupId: "g", connected: true, lastContactAt: now - 11_000, lastError: undefined }]
    }))
    assert.deepStrictEqual(r.reasons, ["consumer group g not connected to Kafka (last contact 11s ago)"])
  })

  // Before issue 19 a pipeline without partitions was "not ready: no partitions assigned" whatever the
  // cause. Now start-up (no first assignment yet) is its own state, still 503, and a member that joined
  // its group but got no partition (more members than partitions) is a ready stand-by: "idle", 200.
  it("startup: before any pipeline registered, or before a pipeline's first assignment", () => {
    const none = assessReadiness(input({ pipelines: [] }))
    assert.strictEqual(none.state, "startup")
    assert.isFalse(none.ready)
    assert.deepStrictEqual(none.reasons, ["no pipeline running yet"])
    const waiting = assessReadiness(input({
      pipelines: [pipeline({ assignedPartitions: 0, joinedGroup: false })],
      // Start-up problems (a consumer not connected yet) keep the state at startup, listed as reasons.
      connections: [{ groupId: "g", connected: false, lastContactAt: undefined, lastError: undefined }]
    }))
    assert.strictEqual(waiting.state, "startup")
    assert.isFalse(waiting.ready)
    assert.deepStrictEqual(waiting.reasons, [
      "consumer group g not connected to Kafka (never connected)",
      "transactions: starting (waiting for its first partition assignment)"
    ])
  })

  it("idle: joined its group but given no partition is ready, unless something else is wrong", () => {
    const idle = assessReadiness(input({ pipelines: [pipeline({ assignedPartitions: 0, joinedGroup: true })] }))
    assert.strictEqual(idle.state, "idle")
    assert.isTrue(idle.ready)
    assert.deepStrictEqual(idle.reasons, [])
    assert.strictEqual(idle.pipelines[0]!.state, "idle")
    // One pipeline idle and one consuming: the process serves, so it is ready.
    const mixed = assessReadiness(input({
      pipelines: [pipeline({ assignedPartitions: 0 }), pipeline({ name: "cards", assignedPartitions: 2 })]
    }))
    assert.strictEqual(mixed.state, "ready")
    assert.deepStrictEqual(mixed.pipelines.map((p) => p.state), ["idle", "ready"])
    // An idle member that lost its brokers is not ready.
    const lost = assessReadiness(input({
      pipelines: [pipeline({ assignedPartitions: 0 })],
      broker: { reachable: false, checkedAt: now, error: "Connection error" }
    }))
    assert.strictEqual(lost.state, "not ready")
    assert.isFalse(lost.ready)
  })

  it("stalled only with lag and no progress for the whole stall timeout, counted from when the lag appeared", () => {
    const idleSinceLongAgo = { lastProgressAt: now - 3_600_000 }
    // An hour idle, lag appeared 5 s ago: not stalled yet (the pipeline is about to take the records).
    assert.isTrue(
      assessReadiness(input({ pipelines: [pipeline({ ...idleSinceLongAgo, lag: 10, lagSince: now - 5_000 })] })).ready
    )
    const r = assessReadiness(
      input({ pipelines: [pipeline({ ...idleSinceLongAgo, lag: 10, lagSince: now - 31_000 })] })
    )
    assert.isTrue(r.pipelines[0]!.stalled)
    assert.deepStrictEqual(r.reasons, ["transactions: stalled (lag 10, no progress for 31s)"])
    // No lag: never stalled, however quiet.
    assert.isTrue(assessReadiness(input({ pipelines: [pipeline({ ...idleSinceLongAgo, lag: 0 })] })).ready)
    // Unknown lag (the runner reports no position and no group): not judged.
    assert.isTrue(assessReadiness(input({ pipelines: [pipeline({ ...idleSinceLongAgo, lag: undefined })] })).ready)
  })
})
