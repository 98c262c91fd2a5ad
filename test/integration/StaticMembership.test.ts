/**
 * Static membership (KAFKA_GROUP_INSTANCE_ID, KAFKA_CLIENT=platformatic) with real processes of the
 * built service: a SIGKILLed process started again at once with the same id takes its partitions back
 * without waiting for the session timeout, and a second live process with the same id is not silently
 * let in beside the first.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Ref, Schedule } from "effect"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { type RunningService, startService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import {
  awaitCommitted,
  committedTotal,
  featureRows,
  produceRecords,
  simulateTransactions,
  transactionsServiceEnv,
  validTransactions
} from "../support/TransactionsFixture.ts"

const localHopsworks = makeLocalHopsworks({
  kafkaBootstrap: kafkaBootstrap(),
  project: uniqueName("static").replace("-", "_")
})

/** Produces `records` in chunks of 100 every 100 ms until `stop` is set; returns how many it produced. */
const steadyInput = (topic: string, records: ReturnType<typeof simulateTransactions>, stop: Ref.Ref<boolean>) =>
  Effect.gen(function*() {
    let sent = 0
    while (sent < records.length && !(yield* Ref.get(stop))) {
      yield* produceRecords(topic, records.slice(sent, sent + 100))
      sent += 100
      yield* Effect.sleep("100 millis")
    }
    return sent
  })

/** Milliseconds until the group's committed offsets move past `from` (bounded by `timeout`). */
const untilCommittedPast = (groupId: string, topic: string, from: number, timeout: number) =>
  Effect.gen(function*() {
    const started = Date.now()
    yield* committedTotal(groupId, topic).pipe(
      Effect.repeat({ until: (n) => n > from, schedule: Schedule.spaced("50 millis") }),
      Effect.timeout(timeout)
    )
    return Date.now() - started
  })

const kill = (service: RunningService) =>
  Effect.promise(async () => {
    service.child.kill("SIGKILL")
    await service.exited
  })

describe("static membership (KAFKA_GROUP_INSTANCE_ID) with the @platformatic/kafka source", () => {
  it.live(
    "SIGKILL and an immediate restart with the same id: consuming again within 5 s, 10 rounds, nothing lost",
    () =>
      Effect.gen(function*() {
        const hw: LocalHopsworks = yield* localHopsworks
        const topic = uniqueName("static")
        const groupId = uniqueName("static-group")
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId, {
          KAFKA_CLIENT: "platformatic",
          KAFKA_GROUP_INSTANCE_ID: "pod-0"
        })
        const input = simulateTransactions(100_000, 0, 4242)
        const stop = yield* Ref.make(false)
        const producer = yield* Effect.forkChild(steadyInput(topic, input, stop))

        let service = startService(["run", "transactions"], env)
        yield* Effect.addFinalizer(() => Effect.sync(() => service.child.kill("SIGKILL")))
        yield* untilCommittedPast(groupId, topic, 0, 60_000)
        const pauses: Array<number> = []
        for (let round = 0; round < 10; round++) {
          yield* Effect.sleep("2 seconds")
          yield* kill(service)
          const before = yield* committedTotal(groupId, topic)
          service = startService(["run", "transactions"], env)
          const pause = yield* untilCommittedPast(groupId, topic, before, 15_000).pipe(
            Effect.catchTag("TimeoutError", () => Effect.succeed(Infinity))
          )
          pauses.push(pause)
        }
        console.log(`static membership: committed offsets moved again ${pauses.join(", ")} ms after each restart`)
        for (const pause of pauses) assert.isBelow(pause, 5_000, `a restart took ${pause} ms:\n${service.output()}`)

        yield* Ref.set(stop, true)
        const produced = yield* Fiber.join(producer)
        yield* awaitCommitted(groupId, topic, produced, "120 seconds")
        const written = new Set((yield* featureRows(hw)).map((r) => String(r["transaction_id"])))
        const missing = validTransactions(input.slice(0, produced)).filter((t) => !written.has(t.transaction_id))
        assert.strictEqual(missing.length, 0, `${missing.length} of ${produced} records missing`)
        service.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => service.exited), 0)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    240_000
  )

  it.live(
    "a second live process with the same id: the broker fences the first, which exits naming the variable",
    () =>
      Effect.gen(function*() {
        const hw: LocalHopsworks = yield* localHopsworks
        const topic = uniqueName("static-twice")
        const groupId = uniqueName("static-twice-group")
        yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 3 }])
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId, {
          KAFKA_CLIENT: "platformatic",
          KAFKA_GROUP_INSTANCE_ID: "pod-0"
        })
        const stop = yield* Ref.make(false)
        yield* Effect.forkChild(steadyInput(topic, simulateTransactions(100_000, 0, 77), stop))
        yield* Effect.addFinalizer(() => Ref.set(stop, true))

        const first = startService(["run", "transactions"], env)
        yield* Effect.addFinalizer(() => Effect.sync(() => first.child.kill("SIGKILL")))
        yield* untilCommittedPast(groupId, topic, 0, 60_000)
        const second = startService(["run", "transactions"], env)
        yield* Effect.addFinalizer(() => Effect.sync(() => second.child.kill("SIGKILL")))

        const code = yield* Effect.promise(() => first.exited).pipe(Effect.timeout("30 seconds"))
        assert.notStrictEqual(code, 0, "the fenced process fails")
        const line = first.output().split("\n").find((l) => /ERROR.*KafkaError: .*fenced/.test(l))
        assert.isDefined(line, first.output())
        assert.match(line!, /KAFKA_GROUP_INSTANCE_ID/)
        console.log(`static membership, same id twice: the first process exited ${code}: ${line!.trim()}`)
        // The newcomer keeps consuming alone.
        const before = yield* committedTotal(groupId, topic)
        yield* untilCommittedPast(groupId, topic, before, 15_000)
        assert.strictEqual(second.child.exitCode, null, second.output())
        second.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => second.exited), 0)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    180_000
  )

  it.live(
    "kafkajs asked for static membership: the service refuses to start, naming the variable",
    () =>
      Effect.gen(function*() {
        const hw: LocalHopsworks = yield* localHopsworks
        const service = startService(
          ["run", "transactions"],
          transactionsServiceEnv(kafkaBootstrap(), hw, uniqueName("static-kafkajs"), uniqueName("g"), {
            KAFKA_CLIENT: "kafkajs",
            KAFKA_GROUP_INSTANCE_ID: "pod-0"
          })
        )
        assert.strictEqual(yield* Effect.promise(() => service.exited), 2)
        const lines = service.output().trim().split("\n")
        assert.deepStrictEqual(lines, [
          "Invalid configuration: KAFKA_GROUP_INSTANCE_ID: kafkajs cannot do static membership; " +
          "set KAFKA_CLIENT=platformatic or unset this variable"
        ])
      }).pipe(Effect.scoped),
    60_000
  )
})
