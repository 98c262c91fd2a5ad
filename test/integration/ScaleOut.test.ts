/**
 * Scale-out of the windowed pipeline (card-aggregates) across real processes, and survival of a
 * SIGKILL and of a late joiner.
 *
 * One input topic (6 partitions, keyed by cc_num) is fed progressively (150 records a second in ten batches, event time
 * advancing one minute per second, up to 30 s of disorder — below the 60 s out-of-orderness, so no
 * record is late). Two deployments read it at the same time, each with its own consumer group and its
 * own local Hopsworks project (so its own feature-group topic):
 *   - the REFERENCE: one process, never disturbed;
 *   - the DISTURBED group: three processes; one is killed with SIGKILL a third of the way in; after
 *     the kafkajs session timeout (30 s) the survivors take its partitions over; then a fourth process
 *     joins.
 * The stream ends with one far-future record per partition, so every window closes. The union of the
 * disturbed group's rows must equal the reference's rows: no (cc_num, window_start) missing or extra,
 * and every repeated row identical (idempotent re-emission). The reference itself is checked against
 * the naive definition of the windows. The test prints the rebalance pauses and the replay volume
 * (docs/scaling-out.md quotes them).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { headerString, type KafkaRecord, type OutgoingRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { partitionForKey } from "../../src/kafka/KeyPartitioner.ts"
import { CardTransactionsSimulator } from "../../src/simulator/CardTransactionsSimulator.ts"
import { type CardTxn, naiveCardWindows, sameCardWindow } from "../support/CardWindowsReference.ts"
import { collectTopic, subjectDecoder } from "../support/FeatureGroupTopic.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { coversExactly, type GroupMember, startMember } from "../support/ServiceGroup.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"

const PARTITIONS = 6
const CARDS = 120
/** 150 records a second, sent in ten batches of 15. */
const PER_BATCH = 15
const BATCH_EVERY_MS = 100
/** Event time advances 400 ms per record: one minute of event time per second of wall-clock time. */
const EVENT_STEP_MS = 400
const BASE = Date.UTC(2025, 0, 1, 12, 0, 0)
/**
 * Partitions do not progress evenly in real topics: partition p's event times trail by p × 40 s. So a
 * process's watermark (the minimum over its partitions) — and with it the checkpoint watermark of
 * each of its partitions — is minutes below the leading partitions' own watermarks, and a partition
 * restored next to other partitions than before must not be judged against their watermark while
 * it replays (the engine bug the single-process SIGKILL test found; this test finds it as well).
 */
const LAG_PER_PARTITION_MS = 40_000
/** Batches fed before the kill (15 s, about a third of the feed). */
const BATCHES_BEFORE_KILL = 150
/** Batches fed after the fourth process got its partitions, before the end of the stream (8 s). */
const BATCHES_AFTER_JOIN = 80
const MAX_BATCHES = 1_500
/** How often the test reads every process's per-partition consumed-records counter. */
const SAMPLE_EVERY_MS = 100

const LOG_DIR = join(import.meta.dirname, "..", "..", ".it", "scale-out")

const log = (line: string) => console.log(`[scale-out] ${line}`)

interface Row {
  readonly key: string
  readonly value: string
  readonly card: number
  readonly windowStart: number
  /** When the writing process produced it (record timestamp, epoch ms). */
  readonly writtenAt: number
  readonly decoded: Record<string, unknown>
}

const featureGroupOf = (hw: LocalHopsworks) =>
  hw.featureGroups().find((fg) => fg.dto.name === "card_transactions_10m_agg" && fg.dto.version === 1)

/** The rows of the project's card feature group, decoded with avsc from the subject schema the server holds. */
const rowsOf = (hw: LocalHopsworks, records: ReadonlyArray<KafkaRecord>): Array<Row> => {
  const fg = featureGroupOf(hw)
  if (fg === undefined) return []
  const decode = subjectDecoder(fg.subject.schema)
  return records
    .filter((r) => headerString(r, "featureGroupId") === String(fg.dto.id))
    .map((r) => {
      const d = decode(r.value!)
      const card = d["cc_num"] as number
      const windowStart = d["window_start"] as number
      return {
        key: `${card}@${windowStart}`,
        value: JSON.stringify([
          card,
          windowStart,
          d["num_trans_per_10m"],
          d["avg_amt_per_10m"],
          d["stdev_amt_per_10m"]
        ]),
        card,
        windowStart,
        writtenAt: r.timestamp,
        decoded: d
      }
    })
}

const waitFor = (what: string, condition: () => boolean, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("100 millis")
    }
  })

/** Waits until `size()` has not changed for `quietMs` (and `ready()` holds), or `timeoutMs`. */
const waitUntilStable = (size: () => number, quietMs: number, timeoutMs: number, ready: () => boolean = () => true) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    let last = -1
    let since = Date.now()
    while (Date.now() < deadline) {
      const n = size()
      if (n !== last) {
        last = n
        since = Date.now()
      } else if (Date.now() - since >= quietMs && ready()) return true
      yield* Effect.sleep("200 millis")
    }
    return false
  })

const serviceEnv = (hw: LocalHopsworks, topic: string, groupId: string): Record<string, string> => ({
  KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
  HOPSWORKS_HOST: hw.host,
  HOPSWORKS_PORT: String(hw.port),
  HOPSWORKS_SCHEME: "http",
  HOPSWORKS_PROJECT: hw.project,
  HOPSWORKS_API_KEY: hw.apiKey,
  CARD_TRANSACTIONS_TOPIC: topic,
  CARD_AGGREGATES_GROUP_ID: groupId,
  // rows carry window_start, so they can be compared by (cc_num, window_start)
  CARD_WINDOW_START_FEATURE: "true",
  // idleness is processing-time dependent; every partition is busy here, keep it out of the picture
  IDLE_TIMEOUT_SECONDS: "3600",
  LOG_LEVEL: "Info"
})

/** Output gaps per partition: the largest gap between consecutive rows inside [from, to] (ms). */
const largestGap = (times: ReadonlyArray<number>, from: number, to: number): number => {
  const inside = times.filter((t) => t >= from && t <= to)
  let prev = from
  let gap = 0
  for (const t of inside) {
    gap = Math.max(gap, t - prev)
    prev = t
  }
  return Math.max(gap, to - prev)
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0
    ? NaN
    : s.length % 2 === 1
    ? s[(s.length - 1) / 2]!
    : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

describe("scale-out of card-aggregates across processes", () => {
  it.live(
    "3 processes on one group over 6 partitions, one SIGKILLed, a 4th joins: the union of outputs equals an undisturbed single-process run",
    () =>
      Effect.gen(function*() {
        const topic = uniqueName("scale-cc")
        const project = (p: string) => uniqueName(p).replace("-", "_")
        const hwRef = yield* makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: project("scale_ref") })
        const hwDist = yield* makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: project("scale_dist") })
        yield* Effect.flatMap(KafkaAdmin, (admin) =>
          admin.createTopics([topic, hwRef.onlineTopic, hwDist.onlineTopic].map((t) => ({
            topic: t,
            partitions: PARTITIONS
          }))))
        const refRecords = yield* collectTopic(hwRef.onlineTopic)
        const distRecords = yield* collectTopic(hwDist.onlineTopic)
        const refGroup = uniqueName("scale-ref")
        const distGroup = uniqueName("scale-dist")

        const members: Array<GroupMember> = []
        const all: Array<GroupMember> = []
        yield* Effect.addFinalizer(() =>
          Effect.promise(() =>
            Promise.all(all.map(async (m) => {
              m.stopPolling()
              await m.kill("SIGKILL")
            }))
          )
        )
        const start = (name: string, hw: LocalHopsworks, group: string) => {
          const m = startMember(name, "card-aggregates", serviceEnv(hw, topic, group))
          all.push(m)
          return m
        }
        const dumpLogs = () =>
          all.forEach((m) =>
            console.log(`----- ${m.name} -----\n${m.service.output()}`)
          )

        // ---- start: the reference, and three processes in the disturbed group; wait for a stable 2/2/2 split
        const ref = start("reference", hwRef, refGroup)
        for (const name of ["A", "B", "C"]) members.push(start(name, hwDist, distGroup))
        yield* waitFor(
          "the initial assignments",
          () =>
            ref.owned().length === PARTITIONS && coversExactly(members, PARTITIONS) &&
            members.every((m) => m.owned().length === 2),
          60_000
        ).pipe(Effect.tapError(() => Effect.sync(dumpLogs)))
        yield* Effect.sleep("1 second")
        const splitAt = Date.now()
        const initiallyOwned = new Map(members.map((m) => [m, [...m.owned()]]))
        log(`initial split: ${members.map((m) => `${m.name}=${m.owned().join(",")}`).join(" ")}`)

        // ---- consumption per input partition, summed over the disturbed group's processes, every 100 ms
        const consumption: Array<{ readonly at: number; readonly sums: ReadonlyArray<number> }> = []
        yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
          yield* Effect.promise(() =>
            Promise.all(
              members.filter((m) => m.alive()).map((m) => m.partitionMetric("tributary_partition_records_in_total"))
            )
          )
          const sums = Array.from({ length: PARTITIONS }, () => 0)
          for (const m of members) for (const [p, n] of m.lastByPartition()) sums[p]! += n
          consumption.push({ at: Date.now(), sums })
          yield* Effect.sleep(SAMPLE_EVERY_MS)
        })))

        // ---- the feeder: ten batches a second until told to stop, then one far-future record per partition
        const sim = new CardTransactionsSimulator({ seed: 2024, cards: CARDS, maxDelayMs: 30_000 })
        const fed: Array<CardTxn> = []
        let batches = 0
        const feed = { stop: false }
        let lastEventTime = BASE
        const sink = yield* KafkaSink
        const feedStartedAt = Date.now()
        const feeder = yield* Effect.forkScoped(Effect.gen(function*() {
          while (!feed.stop && batches < MAX_BATCHES) {
            const tickAt = feedStartedAt + batches * BATCH_EVERY_MS
            const wait = tickAt - Date.now()
            if (wait > 0) yield* Effect.sleep(wait)
            const out: Array<OutgoingRecord> = []
            for (let i = batches * PER_BATCH; i < (batches + 1) * PER_BATCH; i++) {
              lastEventTime = BASE + i * EVENT_STEP_MS
              const r = sim.next(lastEventTime)
              const partition = partitionForKey(r.key, PARTITIONS)
              const t = { ...r.transaction, datetime: r.transaction.datetime - partition * LAG_PER_PARTITION_MS }
              fed.push(t)
              out.push({ topic, key: r.key, value: JSON.stringify(t), partition })
            }
            yield* sink.send(out)
            batches++
          }
          const end = lastEventTime + 24 * 60 * 60_000
          yield* sink.send(Array.from({ length: PARTITIONS }, (_, partition) => ({
            topic,
            partition,
            key: "0",
            value: JSON.stringify({ tid: `end-${partition}`, datetime: end, cc_num: 0, amount: 0 })
          })))
          return Date.now()
        }))

        // ---- SIGKILL one process a third of the way in (its consumed-records counter read just before)
        yield* waitFor("the batches before the kill", () => batches >= BATCHES_BEFORE_KILL, 60_000)
        const victim = members[1]!
        const victimPartitions = [...victim.owned()]
        yield* Effect.promise(() => victim.metric("tributary_records_in_total"))
        yield* Effect.promise(() => victim.partitionMetric("tributary_partition_records_in_total"))
        yield* Effect.promise(() => victim.kill("SIGKILL"))
        const killedAt = Date.now()
        const survivors = members.filter((m) => m !== victim)
        const committedAtKill = yield* Effect.flatMap(KafkaAdmin, (a) => a.committedOffsets(distGroup, topic))
        const endsAtKill = yield* Effect.flatMap(KafkaAdmin, (a) => a.topicOffsets(topic))
        log(
          `t=${seconds(killedAt - feedStartedAt)}: SIGKILL ${victim.name} (partitions ${victimPartitions.join(",")}, ` +
            `${victim.lastRecordsIn()} records consumed); committed then: ` +
            victimPartitions.map((p) => {
              const c = committedAtKill.find((o) => o.partition === p)
              const e = endsAtKill.find((o) => o.partition === p)
              return `p${p} offset ${c?.offset} of ${e?.high} (${c?.metadata})`
            }).join("; ")
        )

        // ---- the survivors take the partitions over once the session timeout has expired
        yield* waitFor(
          "the survivors to take over",
          () => coversExactly(survivors, PARTITIONS) && survivors.some((m) => m.assignments().at(-1)!.at > killedAt),
          60_000
        ).pipe(Effect.tapError(() => Effect.sync(dumpLogs)))
        const takeoverAt = Math.max(...survivors.map((m) => m.assignments().at(-1)!.at))
        log(
          `t=${seconds(takeoverAt - feedStartedAt)}: takeover ${seconds(takeoverAt - killedAt)} after the kill: ` +
            survivors.map((m) => `${m.name}=${m.owned().join(",")}`).join(" ")
        )

        // ---- a fourth process joins
        yield* Effect.sleep("3 seconds")
        const joiner = start("D", hwDist, distGroup)
        members.push(joiner)
        const joinStartedAt = Date.now()
        const live = [...survivors, joiner]
        yield* waitFor(
          "the fourth process to get partitions",
          () => joiner.owned().length > 0 && coversExactly(live, PARTITIONS),
          60_000
        ).pipe(Effect.tapError(() => Effect.sync(dumpLogs)))
        const joinAssignedAt = Math.max(...live.map((m) => m.assignments().at(-1)!.at))
        log(
          `t=${seconds(joinAssignedAt - feedStartedAt)}: ${joiner.name} joined; reassigned ` +
            `${seconds(joinAssignedAt - joinStartedAt)} after its start (its first log line after ` +
            `${seconds(joiner.firstOutputAt()! - joinStartedAt)}): ` +
            live.map((m) => `${m.name}=${m.owned().join(",")}`).join(" ")
        )

        // ---- the rest of the stream, then its end
        const batchesAtJoin = batches
        yield* waitFor("the last batches", () => batches >= batchesAtJoin + BATCHES_AFTER_JOIN, 60_000)
        feed.stop = true
        const feedEndedAt = yield* Fiber.join(feeder)
        log(`t=${seconds(feedEndedAt - feedStartedAt)}: fed ${fed.length} records in ${batches} batches + end markers`)

        // ---- wait until the outputs stop changing
        const refSettled = yield* waitUntilStable(() => refRecords.length, 4_000, 60_000, () =>
          rowsOf(hwRef, refRecords).length > 0)
        const refKeys = () =>
          new Set(
            rowsOf(hwRef, refRecords).map((r) =>
              r.key
            )
          )
        const distHasAll = () => {
          const seen = new Set(
            rowsOf(hwDist, distRecords).map((r) =>
              r.key
            )
          )
          for (const k of refKeys()) if (!seen.has(k)) return false
          return true
        }
        const distSettled = yield* waitUntilStable(() => distRecords.length, 4_000, 60_000, distHasAll)
        if (!distSettled) yield* waitUntilStable(() => distRecords.length, 10_000, 30_000)
        const settledAt = Date.now()
        log(
          `outputs settled ${
            seconds(settledAt - feedEndedAt)
          } after the end of the stream (ref ${refSettled}, disturbed ${distSettled})`
        )

        // ---- records consumed, from each process's /metrics (the victim's: just before the kill)
        const refIn = (yield* Effect.promise(() => ref.metric("tributary_records_in_total"))) ?? NaN
        for (const m of live) yield* Effect.promise(() => m.metric("tributary_records_in_total"))
        const distIn = members.reduce((n, m) => n + m.lastRecordsIn(), 0)
        const rebalances = yield* Effect.promise(() =>
          Promise.all(live.map(async (m) => `${m.name}:${await m.metric("tributary_rebalances_total")}`))
        )
        const refConsumed = (yield* Effect.promise(() => ref.partitionMetric("tributary_partition_records_in_total")))!
        for (const m of live) yield* Effect.promise(() => m.partitionMetric("tributary_partition_records_in_total"))
        const finallyOwned = new Map(live.map((m) => [m, [...m.owned()]]))
        yield* Effect.promise(() => Promise.all(all.map((m) => m.kill("SIGTERM"))))
        // Every process's log, for a look afterwards (.it/ is ignored by git).
        mkdirSync(LOG_DIR, { recursive: true })
        for (const m of all) writeFileSync(join(LOG_DIR, `${m.name}.log`), m.service.output())

        // ================================ comparison
        const refRows = rowsOf(hwRef, refRecords)
        const distRows = rowsOf(hwDist, distRecords)
        const distinct = (rows: ReadonlyArray<Row>, label: string) => {
          const byKey = new Map<string, Row>()
          const conflicts: Array<string> = []
          for (const r of rows) {
            const prev = byKey.get(r.key)
            if (prev !== undefined && prev.value !== r.value) conflicts.push(`${r.key}: ${prev.value} then ${r.value}`)
            if (prev === undefined) byKey.set(r.key, r)
          }
          assert.deepStrictEqual(conflicts.slice(0, 10), [], `${label}: a (cc_num, window_start) with different rows`)
          return byKey
        }
        const refByKey = distinct(refRows, "reference")
        const distByKey = distinct(distRows, "disturbed")
        const missing = [...refByKey.keys()].filter((k) => !distByKey.has(k))
        const extra = [...distByKey.keys()].filter((k) => !refByKey.has(k))
        const differing = [...refByKey].filter(([k, r]) => distByKey.has(k) && distByKey.get(k)!.value !== r.value)
        if (missing.length + extra.length + differing.length > 0) {
          const partitionsOf = (keys: ReadonlyArray<string>) => {
            const count = new Map<number, number>()
            for (const k of keys) {
              const p = partitionForKey(k.split("@")[0]!, PARTITIONS)
              count.set(p, (count.get(p) ?? 0) + 1)
            }
            return JSON.stringify([...count].sort((a, b) => a[0] - b[0]))
          }
          log(
            `MISSING ${missing.length} (by input partition ${partitionsOf(missing)}), e.g. ${
              missing.slice(0, 10).join(", ")
            }`
          )
          log(`EXTRA ${extra.length}, e.g. ${extra.slice(0, 10).join(", ")}`)
          log(`DIFFERING ${differing.length}, e.g. ${
            differing.slice(0, 5).map(([k, r]) => `${k}: ${r.value} vs ${distByKey.get(k)!.value}`).join("; ")
          }`)
          dumpLogs()
        }
        assert.strictEqual(refRows.length, refByKey.size, "the undisturbed run writes every window once")
        assert.deepStrictEqual(missing.slice(0, 20), [], "key-windows of the reference missing in the disturbed run")
        assert.deepStrictEqual(extra.slice(0, 20), [], "key-windows the reference does not have")
        assert.strictEqual(differing.length, 0, "key-windows with other values than the reference")

        // The reference is itself right: it equals the naive definition of the windows.
        const naive = naiveCardWindows(fed)
        assert.strictEqual(refByKey.size, naive.length, "reference rows vs naive windows")
        for (const want of naive) {
          const got = refByKey.get(`${want.cc_num}@${want.window_start}`)
          assert.isTrue(
            got !== undefined && sameCardWindow(got.decoded, want),
            `${JSON.stringify(got?.decoded)} vs ${JSON.stringify(want)}`
          )
        }

        // ================================ cooperative rebalancing: only what moves is revoked
        const revokedSince = (m: GroupMember, from: number) =>
          m.assignments().filter((a) =>
            a.at >= from && a.kind === "revoked"
          ).flatMap((a) => a.changed)
        // The takeover only adds the dead copy's partitions; the join takes from each survivor only what the
        // newcomer gets.
        for (const m of survivors) {
          const lost = revokedSince(m, killedAt)
          log(`${m.name}: revoked since the kill ${lost.join(",") || "nothing"}`)
          const taken = finallyOwned.get(joiner)!
          assert.deepStrictEqual(lost.filter((p) => !taken.includes(p)), [], `${m.name} lost a partition`)
          assert.isAtMost(lost.length, taken.length)
        }
        // Partitions that stayed with one copy from the first split to the end were read exactly once: as
        // often as by the undisturbed run (no replay around either rebalance).
        const neverMoved = survivors.flatMap((m) =>
          initiallyOwned.get(m)!.filter((p) =>
            finallyOwned.get(m)!.includes(p) && !revokedSince(m, splitAt).includes(p)
          )
        )
        const groupConsumed = (p: number) => members.reduce((n, m) => n + (m.lastByPartition().get(p) ?? 0), 0)
        log(
          `never moved: ${
            neverMoved.map((p) => `p${p} consumed ${groupConsumed(p)} (undisturbed ${refConsumed.get(p)})`).join(", ")
          }`
        )
        assert.isAtLeast(neverMoved.length, 2)
        for (const p of neverMoved) assert.strictEqual(groupConsumed(p), refConsumed.get(p), `p${p} was read again`)

        // ================================ measurements
        const cardPartition = new Map<number, number>()
        for (let c = 1; c <= CARDS; c++) {
          cardPartition.set(c, partitionForKey(String(c), PARTITIONS))
        }
        const outputTimes = Array.from({ length: PARTITIONS }, () => [] as Array<number>)
        for (const r of distRows) outputTimes[cardPartition.get(r.card)!]!.push(r.writtenAt)
        for (const t of outputTimes) t.sort((a, b) => a - b)
        // Killed partitions: from the kill to their first row written again.
        const resumedAfterKill = victimPartitions.map((p) => {
          const next = outputTimes[p]!.find((t) => t > killedAt)
          return next === undefined ? NaN : next - killedAt
        })
        // Normal cadence: the largest gap per partition while nothing happened (before the kill).
        const calm = outputTimes.map((t) => largestGap(t, feedStartedAt + 5_000, killedAt))
        // The takeover rebalance (session expiry) and the join rebalance: largest gap around each, per
        // partition the survivors kept.
        const kept = [...Array(PARTITIONS).keys()].filter((p) => !victimPartitions.includes(p))
        const aroundTakeover = kept.map((p) =>
          largestGap(outputTimes[p]!, takeoverAt - 8_000, Math.min(takeoverAt + 8_000, joinStartedAt))
        )
        const aroundJoin = [...Array(PARTITIONS).keys()].map((p) =>
          largestGap(outputTimes[p]!, joinStartedAt - 1_000, Math.min(joinAssignedAt + 10_000, feedEndedAt))
        )
        // The same from the consumer side, at ~0.1 s resolution: the longest stretch in which a
        // partition's consumed-records count (summed over the group) did not grow.
        const consumedAt = (p: number) => {
          const out: Array<number> = []
          for (let i = 1; i < consumption.length; i++) {
            if (consumption[i]!.sums[p]! > consumption[i - 1]!.sums[p]!) out.push(consumption[i]!.at)
          }
          return out
        }
        const consumedTimes = [...Array(PARTITIONS).keys()].map(consumedAt)
        const consumedAgainAfterKill = victimPartitions.map((p) => {
          const next = consumedTimes[p]!.find((t) => t > killedAt + SAMPLE_EVERY_MS)
          return next === undefined ? NaN : next - killedAt
        })
        const calmConsumption = consumedTimes.map((t) => largestGap(t, feedStartedAt + 5_000, killedAt))
        const takeoverConsumption = kept.map((p) =>
          largestGap(consumedTimes[p]!, takeoverAt - 8_000, Math.min(takeoverAt + 8_000, joinStartedAt))
        )
        const joinConsumption = [...Array(PARTITIONS).keys()].map((p) =>
          largestGap(consumedTimes[p]!, joinStartedAt - 1_000, Math.min(joinAssignedAt + 10_000, feedEndedAt))
        )
        const duplicates = distRows.length - distByKey.size
        const duplicatesAfter = (from: number, to: number) => {
          const firstSeen = new Map<string, number>()
          let n = 0
          for (const r of [...distRows].sort((a, b) => a.writtenAt - b.writtenAt)) {
            if (firstSeen.has(r.key) && r.writtenAt >= from && r.writtenAt < to) n++
            if (!firstSeen.has(r.key)) firstSeen.set(r.key, r.writtenAt)
          }
          return n
        }
        // Per card, the last row written (what the online store keeps) is the newest window.
        const lastWritten = new Map<number, Row>()
        const newest = new Map<number, number>()
        for (const r of distRows) {
          lastWritten.set(r.card, r)
          newest.set(r.card, Math.max(newest.get(r.card) ?? -Infinity, r.windowStart))
        }
        const staleOnline = [...lastWritten].filter(([card, r]) => r.windowStart !== newest.get(card)).length

        log(
          `reference: ${refRows.length} rows = ${refByKey.size} key-windows (naive: ${naive.length}); records consumed ${refIn}`
        )
        log(
          `disturbed: ${distRows.length} rows for ${distByKey.size} key-windows → ${duplicates} identical re-emissions ` +
            `(${(100 * duplicates / distByKey.size).toFixed(1)} %): ${
              duplicatesAfter(takeoverAt - 10_000, joinStartedAt)
            } ` +
            `around the takeover, ${duplicatesAfter(joinStartedAt, Infinity)} after the join`
        )
        log(
          `records consumed by the group: ${distIn} (${
            members.map((m) => `${m.name} ${m.lastRecordsIn()}`).join(", ")
          }) ` +
            `vs ${refIn} undisturbed → ${distIn - refIn} re-consumed (${(100 * (distIn - refIn) / refIn).toFixed(1)} %)`
        )
        log(`assignment changes (assigned + revoked) per live process: ${rebalances.join(" ")}`)
        log(`normal output cadence: largest gap per partition before the kill ${calm.map(seconds).join(", ")}`)
        log(
          `killed partitions ${victimPartitions.join(",")}: output resumed ${
            resumedAfterKill.map(seconds).join(", ")
          } after ` +
            `the kill (takeover seen ${seconds(takeoverAt - killedAt)} after it)`
        )
        log(`takeover rebalance: largest output gap of the kept partitions ${aroundTakeover.map(seconds).join(", ")}`)
        log(
          `join rebalance: largest output gap per partition ${aroundJoin.map(seconds).join(", ")} ` +
            `(median ${seconds(median(aroundJoin))}); reassigned ${
              seconds(joinAssignedAt - joinStartedAt)
            } after the 4th process started`
        )
        log(
          `consumption (0.1 s samples): largest gap per partition before the kill ${
            calmConsumption.map(seconds).join(", ")
          }; ` +
            `killed partitions consumed again ${consumedAgainAfterKill.map(seconds).join(", ")} after the kill; ` +
            `takeover rebalance, kept partitions ${takeoverConsumption.map(seconds).join(", ")}; ` +
            `join rebalance ${joinConsumption.map(seconds).join(", ")} (median ${seconds(median(joinConsumption))})`
        )
        log(`cards whose last written row is not their newest window: ${staleOnline}`)
        assert.isTrue(resumedAfterKill.every((t) => Number.isFinite(t)), "the killed partitions produce output again")
      }).pipe(Effect.provide(realKafkaLayer(), { local: true })),
    { timeout: 240_000 }
  )
})
