import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Schedule, Schema, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fingerprintSettings } from "../../src/config/FingerprintConfig.ts"
import { fingerprintId, FingerprintMessage } from "../../src/domain/Fingerprint.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import type { KafkaRecord, OutgoingRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { PipelineRegistry } from "../../src/observability/PipelineStats.ts"
import { runFingerprintPipeline } from "../../src/pipelines/fingerprint/FingerprintPipeline.ts"
import { saveFingerprints } from "../../src/pipelines/fingerprint/FingerprintSaver.ts"
import { SensorSimulator } from "../../src/simulator/SensorSimulator.ts"
import type { SimulatedRecord as Published } from "../../src/simulator/SimulatedRecord.ts"
import { extraBroker } from "../support/ExtraBroker.ts"
import { type GroupMember, startMember } from "../support/ServiceGroup.ts"
import { mainScript } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"

const B = 1_706_123_400_000 // a minute boundary
const WINDOW = 60_000
const EQUIPMENT = ["110", "111", "112", "113", "114"]
const SENSORS = ["0001", "0002", "0003", "0004", "0005"]

/**
 * `seconds` rounds (one message per equipment per simulated second, ~15% "null" readings, event times
 * jittered back by up to 8 s, so the input is out of order but never later than the 10 s watermark),
 * then a closing round 30 s after the last window so every window up to B + seconds closes.
 */
const generate = (seed: number, seconds: number, malformedShare: number): Array<Array<Published>> => {
  const sim = new SensorSimulator({
    seed,
    equipmentIds: EQUIPMENT,
    sensorIds: SENSORS,
    jitterMs: 8_000,
    malformedShare
  })
  const rounds = Array.from({ length: seconds }, (_, i) => sim.round(B + i * 1_000))
  const closing = EQUIPMENT.map((e) => ({
    key: e,
    value: JSON.stringify({ equip_id: Number(e), timestamp: B + seconds * 1_000 + 30_000, data: { "0001": "1.000" } }),
    malformed: false
  }))
  return [...rounds, closing]
}

interface Expected {
  readonly equipId: string
  readonly start: number
  readonly data: Record<string, { min: number; max: number; median: number; mean: number; std_dev: number }>
  readonly messages: Array<unknown>
}

/** What the pipeline must emit, computed plainly: group by (equipment, minute), drop nulls, five statistics. */
const reference = (published: ReadonlyArray<Published>, lastEnd: number, nullsAs?: number): Map<string, Expected> => {
  type Acc = { equipId: string; start: number; values: Map<string, Array<number>>; messages: Array<unknown> }
  const windows = new Map<string, Acc>()
  for (const p of published) {
    if (p.malformed) continue
    const m = JSON.parse(p.value) as { equip_id: number; timestamp: number; data: Record<string, string> }
    const start = Math.floor(m.timestamp / WINDOW) * WINDOW
    if (start + WINDOW > lastEnd) continue
    const id = `${m.equip_id}/${start}`
    const w: Acc = windows.get(id) ?? { equipId: String(m.equip_id), start, values: new Map(), messages: [] }
    w.messages.push(m)
    for (const [sensor, v] of Object.entries(m.data)) {
      if (v === "null" && nullsAs === undefined) continue
      const list = w.values.get(sensor) ?? []
      list.push(v === "null" ? nullsAs! : Number(v))
      w.values.set(sensor, list)
    }
    windows.set(id, w)
  }
  const out = new Map<string, Expected>()
  for (const [id, w] of windows) {
    if (w.values.size === 0) continue
    const data: Expected["data"] = {}
    for (const sensor of [...w.values.keys()].sort()) {
      const s = w.values.get(sensor)!.toSorted((a, b) => a - b)
      const n = s.length
      const mean = s.reduce((a, b) => a + b, 0) / n
      data[sensor] = {
        min: s[0]!,
        max: s[n - 1]!,
        median: n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2,
        mean,
        std_dev: Math.sqrt(s.reduce((a, x) => a + (x - mean) ** 2, 0) / n)
      }
    }
    out.set(id, { equipId: w.equipId, start: w.start, data, messages: w.messages })
  }
  return out
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b))

/** Asserts every expected fingerprint arrived exactly once, equal to the reference, and nothing else. */
const assertExactlyOnce = (records: ReadonlyArray<KafkaRecord>, expected: Map<string, Expected>) => {
  const seen = new Map<string, number>()
  for (const r of records) {
    const { fingerprint: f } = Schema.decodeUnknownSync(FingerprintMessage)(JSON.parse(r.value!.toString("utf8")))
    const id = `${f.equip_id}/${f.start_ms}`
    seen.set(id, (seen.get(id) ?? 0) + 1)
    const e = expected.get(id)
    assert.isDefined(e, `unexpected fingerprint ${id}`)
    assert.strictEqual(r.key?.toString(), f.equip_id, "keyed by equip_id")
    assert.strictEqual(f.uuid, fingerprintId(e!.equipId, e!.start))
    assert.strictEqual(f.type, "kiln")
    assert.strictEqual(f.end_ms, f.start_ms + WINDOW)
    assert.deepStrictEqual(Object.keys(f.data), Object.keys(e!.data), `${id}: sensors with non-null readings`)
    for (const [sensor, stats] of Object.entries(e!.data)) {
      const actual = f.data[sensor]!
      for (const k of ["min", "max", "median", "mean", "std_dev"] as const) {
        assert.isTrue(close(actual[k], stats[k]), `${id} ${sensor}.${k}: ${actual[k]} vs ${stats[k]}`)
      }
    }
  }
  const duplicates = [...seen].filter(([, n]) => n > 1)
  assert.deepStrictEqual(duplicates, [], "no fingerprint twice")
  assert.deepStrictEqual([...seen.keys()].sort(), [...expected.keys()].sort(), "every expected fingerprint")
}

/** Collects every record of `topic` (read committed: the KafkaSource consumer's isolation level). */
const collect = (topic: string, into: Array<KafkaRecord>) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const sub = yield* source.subscribe({ groupId: uniqueName("fp-reader"), topics: [topic] })
    return yield* sub.events.pipe(
      Stream.runForEach((e) => Effect.sync(() => e._tag === "Batch" && into.push(...e.records)))
    )
  }).pipe(Effect.scoped)

const awaitTrue = (check: () => boolean, what: string, seconds = 120) =>
  Effect.sync(check).pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("200 millis"), times: seconds * 5 }),
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.die(new Error(`timed out: ${what}`))))
  )

const toOutgoing = (topic: string, round: ReadonlyArray<Published>): Array<OutgoingRecord> =>
  round.map((p) => ({ topic, key: p.key, value: p.value }))

const names = () => {
  const input = uniqueName("sensor-data")
  return {
    SENSOR_TOPIC: input,
    FINGERPRINT_TOPIC: uniqueName("fingerprint-output"),
    FINGERPRINT_GROUP_ID: uniqueName("fingerprint"),
    WATERMARK_IDLE_SECONDS: "10",
    KAFKA_TOPIC_PARTITIONS: "3"
  }
}

describe("fingerprint pipeline on the real broker", () => {
  it.live("a disordered stream with nulls gives exactly the reference fingerprints; the saver's files match", () => {
    const env = names()
    const withConfig = ConfigProvider.layer(ConfigProvider.fromEnv({ env }))
    return Effect.gen(function*() {
      const settings = yield* fingerprintSettings
      const admin = yield* KafkaAdmin
      yield* admin.createTopics([{ topic: env.SENSOR_TOPIC, partitions: 3 }, {
        topic: env.FINGERPRINT_TOPIC,
        partitions: 3
      }])
      const rounds = generate(11, 300, 0.01)
      const published = rounds.flat()
      const sink = yield* KafkaSink
      yield* sink.send(rounds.flatMap((r) => toOutgoing(env.SENSOR_TOPIC, r)))

      const expected = reference(published, B + 300_000)
      assert.isAtLeast(expected.size, 25, "5 windows (and the one before B, from jitter) x 5 equipment")
      const nulls = published.filter((p) => !p.malformed).reduce(
        (n, p) => n + (p.value.match(/"null"/g)?.length ?? 0),
        0
      )
      assert.isAbove(nulls, 500, "the stream has plenty of null readings")

      const out: Array<KafkaRecord> = []
      const reader = yield* Effect.forkChild(collect(env.FINGERPRINT_TOPIC, out))
      const pipeline = yield* Effect.forkChild(Effect.scoped(runFingerprintPipeline(settings)))
      yield* awaitTrue(() => out.length >= expected.size, `${expected.size} fingerprints`)
      yield* Effect.sleep("3 seconds")
      assertExactlyOnce(out, expected)

      // Nulls never entered a statistic: counting them as 0 would give different fingerprints.
      const nullsAsZero = reference(published, B + 300_000, 0)
      const differs = [...expected.keys()].filter((id) =>
        Object.entries(nullsAsZero.get(id)!.data).some(([s, st]) =>
          !close(expected.get(id)!.data[s]?.mean ?? NaN, st.mean)
        )
      )
      assert.isAbove(differs.length, expected.size / 2)

      // Malformed messages went to the dead-letter topic, each once.
      const dead: Array<KafkaRecord> = []
      const deadReader = yield* Effect.forkChild(collect(`${env.SENSOR_TOPIC}.dlq`, dead))
      const malformed = published.filter((p) => p.malformed).length
      assert.isAbove(malformed, 0)
      yield* awaitTrue(() => dead.length >= malformed, "dead letters", 60)
      assert.deepStrictEqual(
        dead.map((r) => r.value!.toString()).sort(),
        published.filter((p) => p.malformed).map((p) => p.value).sort()
      )
      yield* Fiber.interrupt(deadReader)

      // The saver: one file per fingerprint, holding it and its window's input messages.
      const outDir = mkdtempSync(join(tmpdir(), "fingerprints-it-"))
      const saver = yield* Effect.forkChild(saveFingerprints({ outDir }))
      yield* awaitTrue(
        () => readdirSync(outDir).filter((f) => f.endsWith(".json")).length >= expected.size,
        "saved files",
        90
      )
      yield* Fiber.interrupt(saver)
      const files = readdirSync(outDir).sort()
      assert.strictEqual(files.length, expected.size)
      for (const r of out) {
        const { fingerprint } = JSON.parse(r.value!.toString())
        const file = `${fingerprint.uuid}_${fingerprint.start_ms}_${fingerprint.end_ms}.json`
        assert.isTrue(existsSync(join(outDir, file)), file)
        const saved = JSON.parse(readFileSync(join(outDir, file), "utf8"))
        assert.deepStrictEqual(saved.fingerprint, fingerprint)
        const e = expected.get(`${fingerprint.equip_id}/${fingerprint.start_ms}`)!
        const inWindow = (e.messages as Array<{ timestamp: number }>).toSorted((a, b) => a.timestamp - b.timestamp)
        assert.deepStrictEqual(saved.sensor_data.readings, inWindow, `${file}: the window's input messages`)
        assert.strictEqual(saved.sensor_data.reading_count, inWindow.length)
        assert.strictEqual(saved.sensor_data.equip_id, fingerprint.equip_id)
      }
      yield* Fiber.interrupt(pipeline)
      yield* Fiber.interrupt(reader)
    }).pipe(Effect.provide(Layer.mergeAll(realKafkaLayer(), PipelineRegistry.layer, NodeServices.layer, withConfig)))
  }, 240_000)

  it.live("SIGKILLed mid-stream and restarted, a read-committed consumer sees every fingerprint exactly once", () => {
    const env = names()
    const seconds = 600
    const rounds = generate(29, seconds, 0)
    const expected = reference(rounds.flat(), B + seconds * 1_000)
    const logs: Array<string> = []
    const nodeBin = existsSync("node_modules/.bin/node") ? "node_modules/.bin/node" : process.execPath

    /** `node dist/main.js run fingerprint` with real Kafka; killed (SIGKILL) when the scope closes. */
    const startChild = (n: number) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const child = spawn(nodeBin, [mainScript, "run", "fingerprint"], {
            env: {
              PATH: process.env["PATH"] ?? "",
              KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
              KAFKA_CLIENT_ID: `fingerprint-crash-${n}`,
              PARALLELISM: "3",
              ...env
            },
            stdio: ["ignore", "pipe", "pipe"]
          })
          child.stdout.on("data", (d) => logs.push(`[child ${n}] ${d}`))
          child.stderr.on("data", (d) => logs.push(`[child ${n} err] ${d}`))
          return child
        }),
        (child) => kill(child)
      )
    const kill = (child: ChildProcess) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })

    return Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      yield* admin.createTopics([{ topic: env.SENSOR_TOPIC, partitions: 3 }, {
        topic: env.FINGERPRINT_TOPIC,
        partitions: 3
      }])
      const out: Array<KafkaRecord> = []
      const reader = yield* Effect.forkChild(collect(env.FINGERPRINT_TOPIC, out))

      // The feeder publishes one simulated second every 40 ms while the pipeline runs, crashes and restarts.
      const sink = yield* KafkaSink
      let fed = 0
      const feeder = yield* Effect.forkChild(
        Effect.forEach(rounds, (round) =>
          sink.send(toOutgoing(env.SENSOR_TOPIC, round)).pipe(
            Effect.andThen(Effect.sync(() => fed++)),
            Effect.andThen(Effect.sleep("40 millis"))
          ), { discard: true })
      )

      const first = yield* Effect.forkChild(Effect.scoped(Effect.andThen(startChild(1), Effect.never)))
      yield* awaitTrue(() => out.length >= 10, "first fingerprints before the crash", 90)
      yield* Fiber.interrupt(first) // SIGKILL: no shutdown, an open transaction is left behind
      const seenAtCrash = out.length
      const fedAtCrash = fed
      assert.isBelow(seenAtCrash, expected.size, "the crash happened mid-stream")
      assert.isBelow(fedAtCrash, rounds.length, "input was still arriving")

      const second = yield* Effect.forkChild(Effect.scoped(Effect.andThen(startChild(2), Effect.never)))
      yield* Fiber.join(feeder)
      yield* awaitTrue(() => out.length >= expected.size, `all ${expected.size} fingerprints after the restart`, 150)
      yield* Effect.sleep("5 seconds") // time for a duplicate to show up, if there were one
      yield* Fiber.interrupt(second)
      yield* Fiber.interrupt(reader)
      assertExactlyOnce(out, expected)
      yield* Effect.logInfo(`crash after ${seenAtCrash} fingerprints and ${fedAtCrash} rounds; ${out.length} in total`)
    }).pipe(
      Effect.tapCause(() => Effect.sync(() => console.log(logs.join("")))),
      Effect.provide(realKafkaLayer())
    )
  }, 300_000)

  it.live(
    "replicas join, are SIGKILLed, SIGTERMed and rejoin while input arrives: a read-committed consumer sees every fingerprint exactly once",
    () => {
      const env = { ...names(), KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(), PARALLELISM: "3" }
      const seconds = 1_500
      const rounds = generate(53, seconds, 0)
      const expected = reference(rounds.flat(), B + seconds * 1_000)
      const members: Array<GroupMember> = []
      let starts = 0
      /** Replicas a and b have stable instance ids (a StatefulSet's pods); c is a dynamic member. */
      const start = (replica: "a" | "b" | "c") => {
        const member = startMember(`${replica}#${++starts}`, "fingerprint", {
          ...env,
          KAFKA_CLIENT_ID: `fingerprint-${replica}`,
          ...(replica === "c" ? {} : { KAFKA_GROUP_INSTANCE_ID: `pod-${replica}` })
        })
        members.push(member)
        return member
      }
      const live = (replica: string) => members.filter((m) => m.name.startsWith(`${replica}#`) && m.alive())
      const terminated: Array<GroupMember> = []
      const stop = (replica: string, signal: NodeJS.Signals) =>
        Effect.promise(() =>
          Promise.all(
            live(replica).map((m) => {
              if (signal === "SIGTERM") terminated.push(m)
              return m.kill(signal)
            })
          )
        )
      return Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        yield* admin.createTopics([{ topic: env.SENSOR_TOPIC, partitions: 3 }, {
          topic: env.FINGERPRINT_TOPIC,
          partitions: 3
        }])
        const out: Array<KafkaRecord> = []
        const reader = yield* Effect.forkChild(collect(env.FINGERPRINT_TOPIC, out))
        const sink = yield* KafkaSink
        let fed = 0
        // The feed starts once the first replica consumes, so its start-up does not use up the feed.
        const first = start("a")
        yield* awaitTrue(() => first.assignments().length > 0, "the first replica's assignment", 60)
        const feeder = yield* Effect.forkChild(
          Effect.forEach(rounds, (round) =>
            sink.send(toOutgoing(env.SENSOR_TOPIC, round)).pipe(
              Effect.andThen(Effect.sync(() => fed++)),
              Effect.andThen(Effect.sleep("40 millis"))
            ), { discard: true })
        )
        yield* awaitTrue(() => out.length >= 5, "first fingerprints", 60)
        // Eleven changes of the group, a few seconds apart, all while input arrives.
        const changes: ReadonlyArray<readonly [string, Effect.Effect<unknown>]> = [
          ["b joins", Effect.sync(() => start("b"))],
          ["a is SIGKILLed", stop("a", "SIGKILL")],
          ["a restarts as the same instance", Effect.sync(() => start("a"))],
          ["c joins", Effect.sync(() => start("c"))],
          ["b leaves (SIGTERM)", stop("b", "SIGTERM")],
          ["a is SIGKILLed", stop("a", "SIGKILL")],
          ["a restarts", Effect.sync(() => start("a"))],
          ["b rejoins", Effect.sync(() => start("b"))],
          ["c leaves (SIGTERM)", stop("c", "SIGTERM")],
          ["b is SIGKILLed", stop("b", "SIGKILL")],
          ["b restarts", Effect.sync(() => start("b"))]
        ]
        for (const [what, change] of changes) {
          yield* Effect.sleep("3 seconds")
          yield* change
          yield* Effect.logInfo(`${what}: ${out.length} fingerprints, ${fed} rounds fed`)
        }
        assert.isBelow(fed, rounds.length, "every change happened while input was still arriving")
        yield* Fiber.join(feeder)
        yield* awaitTrue(() => out.length >= expected.size, `all ${expected.size} fingerprints`, 150)
        yield* Effect.sleep("5 seconds") // time for a duplicate to show up, if there were one
        yield* Fiber.interrupt(reader)
        // The group was really shared: some member held fewer than all three partitions.
        assert.isTrue(
          members.some((m) => m.assignments().some((a) => a.partitions.length > 0 && a.partitions.length < 3)),
          "partitions were split between replicas"
        )
        assertExactlyOnce(out, expected)
        // SIGTERM mid-stream (mid-transaction, or mid-rebalance) is a clean stop within the grace period.
        for (const m of terminated) assert.strictEqual(yield* Effect.promise(() => m.service.exited), 0, m.name)
        for (const m of members) {
          assert.notMatch(m.service.output(), /Error|exited|fatal/i, `${m.name} logged no error`)
        }
      }).pipe(
        Effect.ensuring(Effect.promise(() => Promise.all(members.map((m) => (m.stopPolling(), m.kill("SIGKILL")))))),
        Effect.tapCause(() =>
          Effect.sync(() => members.forEach((m) => console.log(`--- ${m.name}\n${m.service.output()}`)))
        ),
        Effect.provide(realKafkaLayer())
      )
    },
    300_000
  )

  it.live(
    "the broker down longer than the producer's retries mid-transaction: the producer is replaced, output resumes, every fingerprint exactly once",
    () => {
      const outage = extraBroker("kafka-outage", 29196)
      const env = names()
      const seconds = 300
      const rounds = generate(41, seconds, 0)
      const expected = reference(rounds.flat(), B + seconds * 1_000)
      const logs: Array<string> = []
      const nodeBin = existsSync("node_modules/.bin/node") ? "node_modules/.bin/node" : process.execPath
      return Effect.gen(function*() {
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            outage.run("reset")
            outage.run("start")
          }),
          () => Effect.sync(() => outage.run("stop"))
        )
        const child = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const c = spawn(nodeBin, [mainScript, "run", "fingerprint"], {
              env: {
                PATH: process.env["PATH"] ?? "",
                KAFKA_BOOTSTRAP_SERVERS: outage.address,
                PARALLELISM: "3",
                ...env
              },
              stdio: ["ignore", "pipe", "pipe"]
            })
            c.stdout.on("data", (d) => logs.push(String(d)))
            c.stderr.on("data", (d) => logs.push(String(d)))
            return c
          }),
          (c) => Effect.sync(() => c.kill("SIGKILL"))
        )
        return yield* Effect.gen(function*() {
          const admin = yield* KafkaAdmin
          yield* admin.createTopics([{ topic: env.SENSOR_TOPIC, partitions: 3 }, {
            topic: env.FINGERPRINT_TOPIC,
            partitions: 3
          }])
          const sink = yield* KafkaSink
          const half = Math.floor(rounds.length / 2)
          yield* Effect.forEach(rounds.slice(0, half), (round) => sink.send(toOutgoing(env.SENSOR_TOPIC, round)), {
            discard: true
          })
          const before: Array<KafkaRecord> = []
          const early = yield* Effect.forkChild(collect(env.FINGERPRINT_TOPIC, before))
          yield* awaitTrue(() => before.length >= 5, "fingerprints before the outage", 90)
          yield* Fiber.interrupt(early)

          // Longer than the transactional producer's retry budget: its EndTxn (or the next
          // transaction) fails for good, which used to wedge it in COMMITTING/ABORTING.
          outage.run("stop")
          yield* Effect.sleep("70 seconds")
          assert.strictEqual(child.exitCode, null, "the service survives the outage")
          outage.run("start")
          yield* Effect.forEach(
            rounds.slice(half),
            (round) =>
              sink.send(toOutgoing(env.SENSOR_TOPIC, round)).pipe(
                Effect.retry({ schedule: Schedule.spaced("1 second"), times: 60 })
              ),
            { discard: true }
          )
          // A new read_committed reader, from the beginning: everything committed before and after.
          const out: Array<KafkaRecord> = []
          const reader = yield* Effect.forkChild(collect(env.FINGERPRINT_TOPIC, out))
          yield* awaitTrue(() => out.length >= expected.size, `all ${expected.size} fingerprints after the outage`, 150)
          yield* Effect.sleep("5 seconds")
          yield* Fiber.interrupt(reader)
          assertExactlyOnce(out, expected)
        }).pipe(Effect.provide(realKafkaLayer({ brokers: [outage.address] })))
      }).pipe(
        Effect.scoped,
        Effect.tapCause(() => Effect.sync(() => console.log(logs.join(""))))
      )
    },
    420_000
  )
})
