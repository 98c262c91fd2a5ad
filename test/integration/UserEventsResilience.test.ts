import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, existsSync, mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { UserEventsSettings } from "../../src/config/UserEventsConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { runUserEventsPipeline } from "../../src/pipelines/user-events/UserEventsPipeline.ts"
import { UserEventsSimulator } from "../../src/simulator/UserEventsSimulator.ts"
import { CassandraClient } from "../../src/sinks/cassandra/CassandraClient.ts"
import { configuredTable, UserEventsSink } from "../../src/sinks/cassandra/UserEventsSink.ts"
import { readAllUserEvents } from "../../src/sinks/cassandra/UserEventsTable.ts"
import {
  cassandraPid,
  ensureCassandra,
  testUserEventsSettings,
  userEventsTestLayer
} from "../support/LocalCassandra.ts"
import { mainScript } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer } from "../support/TestKafka.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "../..")
const node = existsSync(join(root, "node_modules/.bin/node")) ? join(root, "node_modules/.bin/node") : process.execPath

let pausedPid: number | undefined
beforeAll(async () => {
  await ensureCassandra()
})
// Whatever happens in a test, never leave the shared node paused.
afterAll(() => {
  if (pausedPid !== undefined) process.kill(pausedPid, "SIGCONT")
})

const rowCount = (settings: UserEventsSettings) =>
  readAllUserEvents(configuredTable(settings)).pipe(
    Effect.map((rows) => ({ rows: rows.length, distinct: new Set(rows.map((r) => r.event_id)).size })),
    Effect.orElseSucceed(() => ({ rows: 0, distinct: 0 }))
  )

const awaitCount = (
  settings: UserEventsSettings,
  atLeast: number,
  timeout: "60 seconds" | "120 seconds" = "120 seconds"
) =>
  Effect.gen(function*() {
    for (;;) {
      const count = yield* rowCount(settings)
      if (count.rows >= atLeast) return count
      yield* Effect.sleep("250 millis")
    }
  }).pipe(Effect.timeout(timeout))

/** Publishes `batches` × `size` valid events with a pause between batches; returns their ids. */
const produce = (
  settings: UserEventsSettings,
  seed: number,
  batches: number,
  size: number,
  every: "50 millis" | "100 millis"
) =>
  Effect.gen(function*() {
    const sink = yield* KafkaSink
    const simulator = new UserEventsSimulator(seed, 0, 40)
    const ids: Array<string> = []
    for (let b = 0; b < batches; b++) {
      const records = simulator.batch(size, Date.UTC(2024, 4, 1, 12) + b * 1_000)
      for (const r of records) ids.push((JSON.parse(r.value) as { event_id: string }).event_id)
      yield* sink.send(records.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      yield* Effect.sleep(every)
    }
    return ids
  })

/**
 * Keeps publishing batches of `size` events (a pause between them) until `stop` is done, then `after`
 * more: the service is always killed while input is still arriving, however slowly it starts.
 */
const produceUntil = (
  settings: UserEventsSettings,
  seed: number,
  size: number,
  stop: Deferred.Deferred<void>,
  after: number
) =>
  Effect.gen(function*() {
    const sink = yield* KafkaSink
    const simulator = new UserEventsSimulator(seed, 0, 40)
    const ids: Array<string> = []
    let remaining = after
    for (let b = 0; remaining > 0; b++) {
      const records = simulator.batch(size, Date.UTC(2024, 4, 1, 12) + b * 1_000)
      for (const r of records) ids.push((JSON.parse(r.value) as { event_id: string }).event_id)
      yield* sink.send(records.map((r) => ({ topic: settings.topic, key: r.key, value: r.value })))
      yield* Effect.sleep("100 millis")
      if (yield* Deferred.isDone(stop)) remaining--
    }
    return ids
  })

/** `node dist/main.js run user-events` as a real child process, configured like the service would be. */
const startService = (settings: UserEventsSettings, run: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      mkdirSync(join(root, ".it/logs"), { recursive: true })
      const log = createWriteStream(join(root, `.it/logs/user-events-${settings.groupId}-${run}.log`))
      const child = spawn(node, [mainScript, "run", "user-events"], {
        cwd: root,
        env: {
          ...process.env,
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          USER_EVENTS_TOPIC: settings.topic,
          USER_EVENTS_GROUP_ID: settings.groupId,
          CASSANDRA_CONTACT_POINTS: settings.cassandra.contactPoints.join(","),
          CASSANDRA_KEYSPACE: settings.cassandra.keyspace,
          LOG_LEVEL: "Info"
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child.stdout!.pipe(log)
      child.stderr!.pipe(log)
      return child
    }),
    (child) => Effect.sync(() => killNow(child))
  )

const killNow = (child: ChildProcess) => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
}

describe("user-events: crashes and Cassandra outages", () => {
  it.live(
    "SIGKILL of the service mid-stream, then a restart: every event in the table exactly once",
    () =>
      Effect.gen(function*() {
        const settings = testUserEventsSettings()
        yield* (yield* KafkaAdmin).createTopics([{ topic: settings.topic, partitions: 3 }])
        const killed = yield* Deferred.make<void>()
        const producer = yield* Effect.forkChild(produceUntil(settings, 21, 200, killed, 20))

        const first = yield* startService(settings, 1)
        // Kill only once the service is really writing; the producer goes on for 20 more batches.
        const before = yield* awaitCount(settings, 1_000)
        killNow(first)
        yield* Deferred.succeed(killed, undefined)
        const ids = yield* Fiber.join(producer)
        const afterKill = yield* rowCount(settings)
        assert.isBelow(before.rows, ids.length, "killed mid-stream")

        yield* startService(settings, 2)
        const final = yield* awaitCount(settings, ids.length)
        yield* Effect.sleep("2 seconds") // anything replayed late must not add rows
        const settled = yield* rowCount(settings)
        assert.strictEqual(settled.rows, ids.length)
        assert.strictEqual(settled.distinct, ids.length, "each event once")
        assert.strictEqual(final.rows, ids.length)
        const stored = new Set((yield* readAllUserEvents(configuredTable(settings))).map((r) => r.event_id))
        assert.isTrue(ids.every((id) => stored.has(id)), "none lost")
        console.log(
          `[crash test] ${before.rows} rows before SIGKILL, ${afterKill.rows} right after, ${settled.rows} after the restart`
        )
      }).pipe(
        Effect.provide(Layer.mergeAll(realKafkaLayer(), CassandraClient.layer(testUserEventsSettings().cassandra)))
      ),
    240_000
  )

  it.live(
    "Cassandra paused (SIGSTOP) for 10 s: the pipeline waits, commits nothing it has not written, then catches up",
    () =>
      Effect.gen(function*() {
        // Short client timeout so the outage is noticed quickly (the default 12 s would work, only slower).
        const settings = testUserEventsSettings({ cassandra: { requestTimeoutMs: 2_000 } })
        const admin = yield* KafkaAdmin
        yield* admin.createTopics([{ topic: settings.topic, partitions: 3 }])
        const pipeline = yield* Effect.forkChild(
          runUserEventsPipeline(settings).pipe(Effect.provide(UserEventsSink.layer(settings)))
        )
        const firstIds = yield* produce(settings, 31, 5, 200, "50 millis")
        yield* awaitCount(settings, firstIds.length)

        const pid = cassandraPid()
        const committed = () =>
          Effect.map(admin.committedOffsets(settings.groupId, settings.topic), (cs) =>
            cs.reduce((n, c) => n + Number(c.offset ?? 0), 0))
        const outage = Effect.gen(function*() {
          process.kill(pid, "SIGSTOP")
          pausedPid = pid
          const pausedIds = yield* produce(settings, 32, 10, 200, "50 millis")
          const committedBefore = yield* committed()
          yield* Effect.sleep("8 seconds")
          // Nothing produced during the outage may be committed: it has not been written.
          assert.isAtMost(yield* committed(), committedBefore)
          assert.isAtMost(committedBefore, firstIds.length)
          return pausedIds
        }).pipe(Effect.ensuring(Effect.sync(() => {
          process.kill(pid, "SIGCONT")
          pausedPid = undefined
        })))
        const pausedIds = yield* outage

        const all = [...firstIds, ...pausedIds]
        yield* awaitCount(settings, all.length)
        const stored = yield* readAllUserEvents(configuredTable(settings))
        assert.strictEqual(stored.length, all.length)
        const ids = new Set(stored.map((r) =>
          r.event_id
        ))
        assert.isTrue(all.every((id) => ids.has(id)), "none lost or skipped")
        // And the offsets catch up once the writes are acknowledged.
        for (let i = 0; i < 40 && (yield* committed()) < all.length; i++) yield* Effect.sleep("250 millis")
        assert.strictEqual(yield* committed(), all.length)
        yield* Fiber.interrupt(pipeline)
      }).pipe(Effect.provide(userEventsTestLayer())),
    180_000
  )
})
