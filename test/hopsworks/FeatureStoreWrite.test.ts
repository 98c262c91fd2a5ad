import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { ItemsRejected } from "../../src/domain/ItemsRejected.ts"
import { classifyFeatureGroupWrite, writerFor } from "../../src/hopsworks/FeatureStore.ts"
import type { ResolvedFeatureGroup } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaError } from "../../src/kafka/KafkaError.ts"
import type { KafkaSink } from "../../src/kafka/KafkaSink.ts"

/**
 * The feature group writer's failures, classified for the runner: rows that do not fit are the
 * records' fault, Kafka refusing the credentials is permanent (stop, one clear line), an outage is transient.
 */

const fg: ResolvedFeatureGroup = {
  projectId: 119,
  featureStoreId: 67,
  featureGroupId: 13,
  name: "transactions",
  version: 1,
  onlineTopicName: "fraud_onlinefs",
  onlineEnabled: true,
  primaryKey: ["id"],
  eventTime: undefined,
  features: [{ name: "id", type: "string" }],
  subject: {
    id: 1,
    version: 1,
    schema: JSON.stringify({ type: "record", name: "t_1", fields: [{ name: "id", type: ["null", "string"] }] })
  }
}

/** A sink whose every send fails with `cause`, as the Kafka client reports it. */
const failingSink = (cause: unknown) =>
  ({
    send: () => Effect.fail(new KafkaError({ operation: "produce", message: String((cause as Error).message), cause }))
  }) as unknown as KafkaSink["Service"]

/** kafkajs: a protocol error with `type`; @platformatic/kafka: `apiId`, often inside `errors`. */
const kafkajsDenied = Object.assign(new Error("Not authorized to access topics: [Topic authorization failed]"), {
  name: "KafkaJSProtocolError",
  type: "TOPIC_AUTHORIZATION_FAILED",
  code: 29
})
const platformaticDenied = Object.assign(new Error("Producing failed."), {
  errors: [Object.assign(new Error("Topic authorization failed."), { apiId: "TOPIC_AUTHORIZATION_FAILED" })]
})

describe("feature group writes: what a failure means", () => {
  for (const [client, denied] of [["kafkajs", kafkajsDenied], ["platformatic", platformaticDenied]] as const) {
    it.effect(`${client}: an authorization failure is permanent, said in one line naming the topic`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(writerFor(fg, Option.none(), failingSink(denied)).write([{ id: "a" }]))
        assert.strictEqual(error._tag, "KafkaError")
        assert.strictEqual(classifyFeatureGroupWrite(error), "permanent")
        assert.include(error.message, "TOPIC_AUTHORIZATION_FAILED")
        assert.include(error.message, "topic fraud_onlinefs")
        assert.notInclude(error.message, "\n")
      }))
  }

  it.effect("a broker outage stays transient (retried), a row that does not fit is rejected (dead-lettered)", () =>
    Effect.gen(function*() {
      const outage = yield* Effect.flip(
        writerFor(fg, Option.none(), failingSink(new Error("Connection error: ECONNREFUSED"))).write([{ id: "a" }])
      )
      assert.strictEqual(classifyFeatureGroupWrite(outage), "transient")
      const tooLong = yield* Effect.flip(
        writerFor(fg, Option.none(), failingSink(new Error("unused"))).write([{ id: "a".repeat(101) }])
      )
      assert.instanceOf(tooLong, ItemsRejected)
      assert.strictEqual(classifyFeatureGroupWrite(tooLong), "rejected")
    }))
})
