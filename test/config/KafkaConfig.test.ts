import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { groupInstanceIdFor, KafkaConfig, kafkaSettings, producerClientConfig } from "../../src/config/KafkaConfig.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { settingsFrom } from "../support/TestSettings.ts"

describe("KafkaConfig: client selection and static membership", () => {
  it("kafkajs with KAFKA_GROUP_INSTANCE_ID: start-up fails with one line naming the variable", () => {
    assert.throws(
      () => settingsFrom(kafkaSettings, { KAFKA_CLIENT: "kafkajs", KAFKA_GROUP_INSTANCE_ID: "pod-0" }),
      "settingsFrom: Invalid configuration: KAFKA_GROUP_INSTANCE_ID: kafkajs cannot do static membership; " +
        "set KAFKA_CLIENT=platformatic or unset this variable"
    )
  })

  it("platformatic (the default client) takes the id; without it nothing changes", () => {
    const withId = settingsFrom(kafkaSettings, { KAFKA_CLIENT: "platformatic", KAFKA_GROUP_INSTANCE_ID: "pod-0" })
    assert.deepStrictEqual([withId.client, withId.groupInstanceId], ["platformatic", Option.some("pod-0")])
    const plain = settingsFrom(kafkaSettings, {})
    assert.deepStrictEqual([plain.client, plain.groupInstanceId], ["platformatic", Option.none()])
    const defaulted = settingsFrom(kafkaSettings, { KAFKA_GROUP_INSTANCE_ID: "pod-0" })
    assert.deepStrictEqual([defaulted.client, defaulted.groupInstanceId], ["platformatic", Option.some("pod-0")])
    assert.throws(
      () => settingsFrom(kafkaSettings, { KAFKA_CLIENT: "platformatic", KAFKA_GROUP_INSTANCE_ID: "pod 0" }),
      /KAFKA_GROUP_INSTANCE_ID/
    )
    assert.throws(() => settingsFrom(kafkaSettings, { KAFKA_CLIENT: "confluent" }), /KAFKA_CLIENT/)
  })

  it("KAFKA_REBALANCE_PROTOCOL: cooperative by default on platformatic, eager on kafkajs, which refuses cooperative", () => {
    const protocol = (env: Record<string, string>) => settingsFrom(kafkaSettings, env).rebalanceProtocol
    assert.strictEqual(protocol({}), "cooperative")
    assert.strictEqual(protocol({ KAFKA_REBALANCE_PROTOCOL: "Eager" }), "eager")
    assert.strictEqual(protocol({ KAFKA_CLIENT: "kafkajs" }), "eager")
    assert.strictEqual(protocol({ KAFKA_CLIENT: "kafkajs", KAFKA_REBALANCE_PROTOCOL: "eager" }), "eager")
    assert.throws(
      () => settingsFrom(kafkaSettings, { KAFKA_CLIENT: "kafkajs", KAFKA_REBALANCE_PROTOCOL: "cooperative" }),
      "settingsFrom: Invalid configuration: KAFKA_REBALANCE_PROTOCOL: kafkajs cannot rebalance cooperatively; " +
        "set KAFKA_CLIENT=platformatic or KAFKA_REBALANCE_PROTOCOL=eager"
    )
    assert.throws(() => settingsFrom(kafkaSettings, { KAFKA_REBALANCE_PROTOCOL: "sticky" }), /KAFKA_REBALANCE_PROTOCOL/)
  })

  it("the group id is part of every instance id: {group} is replaced, or it is appended", () => {
    assert.strictEqual(groupInstanceIdFor("pod-0", "tributary-transactions"), "pod-0-tributary-transactions")
    assert.strictEqual(groupInstanceIdFor("{group}@pod-0", "g.alerts"), "g.alerts@pod-0")
  })

  it("KAFKA_PRODUCER_CLIENT defaults to KAFKA_CLIENT and can still be set on its own", () => {
    const producer = (env: Record<string, string>) =>
      Effect.runSync(producerClientConfig.parse(ConfigProvider.fromEnv({ env })))
    assert.strictEqual(producer({}), "platformatic")
    assert.strictEqual(producer({ KAFKA_CLIENT: "kafkajs" }), "kafkajs")
    assert.strictEqual(producer({ KAFKA_CLIENT: "platformatic" }), "platformatic")
    assert.strictEqual(producer({ KAFKA_CLIENT: "platformatic", KAFKA_PRODUCER_CLIENT: "kafkajs" }), "kafkajs")
    assert.strictEqual(producer({ KAFKA_PRODUCER_CLIENT: "platformatic" }), "platformatic")
  })

  it.effect("settings built in code cannot ask kafkajs for static membership either", () =>
    Effect.gen(function*() {
      const layer = kafkaSourceLayer.pipe(
        Layer.provideMerge(KafkaClient.layer),
        Layer.provideMerge(
          KafkaConfig.layerWith({ brokers: ["127.0.0.1:1"], client: "kafkajs", groupInstanceId: Option.some("pod-0") })
        )
      )
      const error = yield* KafkaSource.pipe(Effect.asVoid, Effect.provide(layer), Effect.flip)
      assert.match(error.message, /^KAFKA_GROUP_INSTANCE_ID: kafkajs cannot do static membership/)
    }))
})
