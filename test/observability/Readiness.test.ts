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

  it("not ready without partitions, or before any pipeline registered", () => {
    assert.deepStrictEqual(assessReadiness(input({ pipelines: [pipeline({ assignedPartitions: 0 })] })).reasons, [
      "transactions: no partitions assigned"
    ])
    assert.deepStrictEqual(assessReadiness(input({ pipelines: [] })).reasons, ["no pipeline running yet"])
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
