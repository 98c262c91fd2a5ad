/**
 * Memory bounded in bytes, at the level of the real process: `node dist/main.js run transactions`
 * against the real local broker, with ~200 KB records and a sink that stalls.
 *
 * The stall: the transactions pipeline writes its rows to the Kafka cluster Hopsworks names (here the
 * "bring your own Kafka" connector of the local Hopsworks stand-in). That connector names a TCP path
 * the test controls in front of the real broker: it accepts every connection and then holds it (reads
 * nothing, answers nothing), a feature store cluster behind a network partition. Every write of the
 * service hangs (and is retried) until the test lets the path through; then the queued requests reach
 * the real broker, which advertises itself, and the producer goes on directly.
 *
 * A backlog of ~500 MB of valid transactions (each with a ~200 KB field the schema does not name: the
 * row is small, but the record is held for the sink until written) waits on a 12-partition topic when
 * the service starts. Its resident set must stay under a ceiling derived from KAFKA_MAX_BUFFERED_BYTES
 * and the idle baseline of the same service; once the path opens, every record is written and committed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { readFileSync } from "node:fs"
import { createServer, type Server, Socket } from "node:net"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { readTopic, subjectDecoder } from "../support/FeatureGroupTopic.ts"
import { makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { type GroupMember, startMember } from "../support/ServiceGroup.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { committedTotal, transactionsServiceEnv } from "../support/TransactionsFixture.ts"

const MiB = 1024 * 1024
/** KAFKA_MAX_BUFFERED_BYTES given to the service. */
const BOUND = 8 * MiB
/** KAFKA_MAX_BYTES_PER_PARTITION (its default): 12 × 4 MiB, a fetch not following the bound would be 6 × BOUND. */
const PER_PARTITION = 4 * MiB
const PARTITIONS = 12
const RECORD_BYTES = 200_000
/** ~500 MB in all: 60 times the bound, 2.5 times the ceiling's allowance over the baseline (192 MiB). */
const RECORDS = 2_500
/** How long the sink stays stalled once the service consumes (RSS sampled all along). */
const STALL_MS = 12_000

/**
 * What the process may hold over its idle baseline while the sink stalls.
 *
 * Live record bytes, 4 × BOUND: the consumer's buffer (BOUND); the two groups the transactions output is
 * writing (it writes two concurrently; each group is what the buffer held when it was taken, at most
 * BOUND); and one fetched response waiting for room in the buffer (the fetch asks for at most BOUND).
 *
 * Garbage not collected yet, 8 × BOUND: the network buffers those responses arrived in (the client
 * copies each 200 KB value out of them, so they die at once, up to 4 × BOUND), and the two strings
 * decoding makes of each record the writes took (its text and the parsed unnamed field, 2 × 2 × BOUND).
 * V8 collects them when it sees fit; nothing here depends on the size of the backlog.
 *
 * SLACK, fixed: what any process grows once it handles traffic at this rate, whatever the bound: V8 grows
 * its young generation to its maximum (tens of MiB), compiles the data path, adds heap
 * pages; and the noise of the baseline (an idle process measures within ±20 MiB from one run to the next).
 * Measured over the baseline here: +110 to +141 MiB, of which about 100 MiB do not change with the bound
 * (+152 MiB with a bound of 16 MiB).
 */
const LIVE = 4 * BOUND
const GARBAGE = 8 * BOUND
const SLACK = 96 * MiB

const rssOf = (pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number | undefined => {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`

/**
 * A TCP path to `target` that accepts every connection and holds it (nothing read, nothing answered)
 * until `release`; from then on, held and new connections are piped to the target.
 */
const heldPath = (target: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))]
      const sockets = new Set<Socket>()
      const held: Array<Socket> = []
      let released = false
      let accepted = 0
      const track = (s: Socket) => {
        sockets.add(s)
        s.on("error", () => s.destroy())
        s.once("close", () => sockets.delete(s))
      }
      const forward = (client: Socket) => {
        if (client.destroyed) return
        const upstream = new Socket()
        track(upstream)
        upstream.connect(port, host)
        client.pipe(upstream)
        upstream.pipe(client)
        client.once("close", () => upstream.destroy())
        upstream.once("close", () => client.destroy())
      }
      const server: Server = createServer({ pauseOnConnect: true }, (client) => {
        accepted++
        track(client)
        if (released) forward(client)
        else held.push(client)
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port: own } = server.address() as { port: number }
      return {
        address: `127.0.0.1:${own}`,
        /** Connections accepted so far (the service did try to write). */
        accepted: () => accepted,
        release: () => {
          released = true
          for (const client of held.splice(0)) forward(client)
        },
        close: () =>
          new Promise<void>((resolve) => {
            for (const s of sockets) s.destroy()
            server.close(() => resolve())
          })
      }
    }),
    (path) => Effect.promise(path.close)
  )

/** A valid transaction whose JSON is about RECORD_BYTES long (the `note` field is not in the schema). */
const bigTransaction = (i: number, pad: string) =>
  JSON.stringify({
    transaction_id: `big-${i}`,
    event_time: 1_767_225_600_000 + i,
    user_id: `user_${String(i % 50).padStart(3, "0")}`,
    amount: 10 + (i % 90),
    currency: "eur",
    category: "groceries",
    note: pad
  })

describe("memory bounded in bytes (real service, real broker)", () => {
  it.live(
    "200 KB records and a stalled sink: RSS stays under baseline + 12 × KAFKA_MAX_BUFFERED_BYTES + 96 MiB; all written after",
    () =>
      Effect.gen(function*() {
        const bootstrap = kafkaBootstrap()
        const path = yield* heldPath(bootstrap)
        const hw = yield* makeLocalHopsworks({
          kafkaBootstrap: bootstrap,
          project: uniqueName("proj").replace("-", "_"),
          kafka: { _tag: "Byok", connector: { bootstrapServers: path.address } }
        })
        const topic = uniqueName("big-records")
        const groupId = uniqueName("big-group")
        const admin = yield* KafkaAdmin
        // 200 KB records fit the broker's default limit (1 MB); the topic says so explicitly.
        yield* admin.createTopics([{ topic, partitions: PARTITIONS, configs: { "max.message.bytes": String(MiB) } }])
        // 500 MB on the shared broker's disk: gone with the test.
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            const kafka = new Kafka({ clientId: "memory-bound", brokers: [bootstrap], logLevel: logLevel.NOTHING })
            const a = kafka.admin()
            await a.connect()
            await a.deleteTopics({ topics: [topic] }).catch(() => undefined)
            await a.disconnect()
          }).pipe(Effect.ignore)
        )
        const env = transactionsServiceEnv(bootstrap, hw, topic, groupId, {
          LOG_LEVEL: "Info",
          KAFKA_MAX_BUFFERED_BYTES: String(BOUND),
          KAFKA_MAX_BYTES_PER_PARTITION: String(PER_PARTITION)
        })
        const start = (name: string) =>
          Effect.acquireRelease(Effect.sync(() => startMember(name, "transactions", env)), (m) =>
            Effect.promise(async () => {
              m.stopPolling()
              await m.kill("SIGKILL")
            }))
        const assigned = (member: GroupMember) =>
          Effect.sync(() =>
            member.owned().length
          ).pipe(
            Effect.repeat({ until: (n) => n === PARTITIONS, schedule: Schedule.spaced("100 millis") }),
            Effect.timeout("30 seconds")
          )
        const stop = (member: GroupMember) =>
          Effect.gen(function*() {
            member.service.child.kill("SIGTERM")
            assert.strictEqual(yield* Effect.promise(() => member.service.exited).pipe(Effect.timeout("30 seconds")), 0)
          })

        // ---- idle baseline: the same service and configuration, assigned the (still empty) topic
        const idle = yield* start("idle")
        yield* assigned(idle)
        yield* Effect.sleep("2 seconds")
        const idleSamples: Array<number> = []
        for (let i = 0; i < 10; i++) {
          idleSamples.push(rssOf(idle.service.child.pid!)!)
          yield* Effect.sleep("100 millis")
        }
        const baseline = Math.max(...idleSamples)
        const idleHwm = rssOf(idle.service.child.pid!, "VmHWM")!
        yield* stop(idle)

        // ---- the backlog: 2,500 valid ~200 KB transactions (~500 MB), waiting when the service starts
        const sink = yield* KafkaSink
        const pad = "n".repeat(RECORD_BYTES - 200)
        for (let i = 0; i < RECORDS; i += 30) {
          yield* sink.send(Array.from({ length: Math.min(30, RECORDS - i) }, (_, k) => ({
            topic,
            key: `big-${i + k}`,
            value: bigTransaction(i + k, pad)
          })))
        }
        assert.strictEqual((yield* admin.topicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0), RECORDS)

        // ---- the service reads it while its sink stalls; RSS sampled every 50 ms from its start
        const member = yield* start("stalled")
        const pid = member.service.child.pid!
        const metric = (name: string) => Effect.promise(() => member.metric(name)).pipe(Effect.map((n) => n ?? 0))
        const samples: Array<{ readonly at: number; readonly rss: number }> = []
        const startedAt = Date.now()
        const sampler = setInterval(() => {
          const rss = rssOf(pid)
          if (rss !== undefined) samples.push({ at: Date.now() - startedAt, rss })
        }, 50)
        yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(sampler)))
        const peakSince = (from: number) => Math.max(0, ...samples.filter((s) => s.at >= from).map((s) => s.rss))

        yield* metric("tributary_records_in_total").pipe(
          Effect.repeat({ until: (n) => n > 0, schedule: Schedule.spaced("100 millis") }),
          Effect.timeout("30 seconds")
        )
        const consumingAt = Date.now() - startedAt
        yield* Effect.sleep(STALL_MS)
        const stalledIn = yield* metric("tributary_records_in_total")
        yield* Effect.sleep("1 second")
        const stalledInLater = yield* metric("tributary_records_in_total")
        const stalledOut = yield* metric("tributary_records_out_total")
        const peakStalled = peakSince(0)
        // The kernel's high-water mark of the resident set since the process started: no sample can miss it.
        const hwmStalled = rssOf(pid, "VmHWM")!
        const ceiling = baseline + LIVE + GARBAGE + SLACK
        console.log(
          `[memory-bound] baseline ${mib(baseline)} (idle VmHWM ${mib(idleHwm)}); stalled: peak RSS ${
            mib(peakStalled)
          }, VmHWM ${mib(hwmStalled)} (+${mib(hwmStalled - baseline)}), RSS after ${STALL_MS} ms ${
            mib(samples.at(-1)!.rss)
          }; ceiling ${mib(ceiling)} = baseline + 12 × ${mib(BOUND)} + ${mib(SLACK)}; backlog ${RECORDS} × ${
            RECORD_BYTES / 1000
          } KB; consuming after ${consumingAt} ms; taken in while stalled: ${stalledIn} records, written ${stalledOut}; feature store connections held ${path.accepted()}`
        )
        assert.isTrue(member.alive(), "the service is running")
        assert.isAbove(path.accepted(), 0, "the service tried to reach the feature store's Kafka")
        assert.strictEqual(stalledOut, 0, "nothing written while the sink stalls")
        assert.isAbove(stalledIn, 0, "the service consumed while the sink stalled")
        assert.strictEqual(stalledInLater, stalledIn, "... and then paused")
        assert.isAtMost(stalledIn * RECORD_BYTES, 2 * BOUND, "the two stalled writes hold at most the bound each")
        assert.isAtMost(hwmStalled, ceiling, "RSS (its high-water mark since start) stays under the ceiling")

        // ---- the path opens: everything is written and committed, nothing lost
        const releasedAt = Date.now() - startedAt
        path.release()
        yield* committedTotal(groupId, topic).pipe(
          Effect.repeat({ until: (n) => n >= RECORDS, schedule: Schedule.spaced("250 millis") }),
          Effect.timeout("60 seconds")
        )
        const drainedAt = Date.now() - startedAt
        const rows = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= RECORDS, "30 seconds")
        const decode = subjectDecoder(hw.featureGroups()[0]!.subject.schema)
        const ids = new Set(rows.map((r) => decode(r.value!)["transaction_id"] as string))
        console.log(
          `[memory-bound] drained in ${drainedAt - releasedAt} ms after the path opened; peak RSS while draining ${
            mib(peakSince(releasedAt))
          } (not asserted: see the note below); ${rows.length} rows, ${ids.size} distinct transaction ids`
        )
        // Draining runs at a few hundred MB/s, and the garbage above then piles up at that rate between
        // collections: how high RSS goes is V8's choice (its default heap limit follows the machine's memory),
        // not the bound's. Observed here: 430 to 650 MiB with no heap limit, about 350 MiB with
        // NODE_OPTIONS=--max-old-space-size=160. So the drain is checked for completeness, not for RSS.
        assert.strictEqual(ids.size, RECORDS, "every transaction written")
        assert.strictEqual(yield* metric("tributary_records_in_total"), RECORDS, "each record consumed once")
        yield* stop(member)
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    120_000
  )
})
