import { assert, describe, it } from "@effect/vitest"
import { HandledErrors, handledErrorType, isConnectionError } from "../../src/observability/ClientLogs.ts"

describe("kafkajs errors the service handles", () => {
  it("are recognised by kafkajs' own error table: retriable ones and a topic someone else created", () => {
    assert.strictEqual(
      handledErrorType("There is no leader for this topic-partition as we are in the middle of a leadership election"),
      "LEADER_NOT_AVAILABLE"
    )
    assert.strictEqual(handledErrorType("This server does not host this topic-partition"), "UNKNOWN_TOPIC_OR_PARTITION")
    assert.strictEqual(handledErrorType("Topic with this name already exists"), "TOPIC_ALREADY_EXISTS")
    // Not retriable: keeps its level.
    assert.isUndefined(handledErrorType("Not authorized to access topics: [Topic authorization failed]"))
    assert.isUndefined(handledErrorType(undefined))
  })

  it("warn once per interval only while they persist", () => {
    const errors = new HandledErrors(30_000)
    // A burst at start-up (a topic being created): debug only.
    for (let t = 0; t <= 2_000; t += 500) assert.isUndefined(errors.record("LEADER_NOT_AVAILABLE", t))
    // Quiet for longer than the interval: the next burst starts a new streak.
    assert.isUndefined(errors.record("LEADER_NOT_AVAILABLE", 40_000))
    assert.isUndefined(errors.record("NOT_COORDINATOR", 55_000))
    // The streak has lasted the interval: one warning, with the counts since it began...
    assert.strictEqual(
      errors.record("LEADER_NOT_AVAILABLE", 70_000),
      "Kafka client: 3 error(s) retried in the last 30s (LEADER_NOT_AVAILABLE ×2, NOT_COORDINATOR ×1); still retrying"
    )
    // ...then none until another interval has passed.
    assert.isUndefined(errors.record("LEADER_NOT_AVAILABLE", 80_000))
    assert.isUndefined(errors.record("LEADER_NOT_AVAILABLE", 95_000))
    assert.match(
      errors.record("LEADER_NOT_AVAILABLE", 100_000) ?? "",
      /^Kafka client: 3 error\(s\) retried in the last 30s/
    )
  })

  it("a broker it cannot reach is announced once at once, then summed up while it lasts", () => {
    assert.isTrue(isConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:1"))
    assert.isTrue(isConnectionError("Failed to connect to seed broker, trying another broker from the list: x"))
    const errors = new HandledErrors(30_000)
    const first = { first: "Connection error: connect ECONNREFUSED 127.0.0.1:1" }
    assert.strictEqual(
      errors.record("CONNECTION", 0, first),
      "Kafka client: Connection error: connect ECONNREFUSED 127.0.0.1:1; retrying " +
        "(more of these at debug level, summed up every 30s while they last)"
    )
    for (let t = 1_000; t < 30_000; t += 1_000) assert.isUndefined(errors.record("CONNECTION", t, first))
    assert.match(
      errors.record("CONNECTION", 30_000, first) ?? "",
      /^Kafka client: 31 error\(s\) retried .*\(CONNECTION ×31\)/
    )
  })
})
