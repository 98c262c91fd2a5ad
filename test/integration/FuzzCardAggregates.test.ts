import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  buildCorpus,
  checkDeadLetters,
  checkpointReaches,
  type CorpusEntry,
  type CorpusSpec,
  jsonBytes,
  parsed,
  produceCorpus,
  raw,
  serviceProcess,
  stopService,
  until,
  wholeTopic
} from "../support/HostileRecords.ts"
import { makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { featureRows } from "../support/TransactionsFixture.ts"

/** `late`: valid, but its window had closed (the watermark passed it): on the late-records topic. */
type Outcome = "written" | "dead-lettered" | "late"
const W: Outcome = "written"
const D: Outcome = "dead-lettered"
const L: Outcome = "late"
const DAY = 86_400_000
const MINUTE = 60_000
const CARD = 4_000_000_000_000_000

/**
 * What the card-aggregates pipeline does with each hostile value. Every record has a card of its own,
 * so a written one becomes exactly one window row (1-minute tumbling windows, no out-of-orderness, no
 * empty windows): count 1 and its amount as the mean. `tid` is validated but never written.
 */
const spec = (now: number): CorpusSpec<Outcome> => ({
  good: (n, eventTime) => ({ tid: `tx-${n}`, datetime: eventTime, cc_num: CARD + n, amount: 10.5 + (n % 7) }),
  key: (v) => String(v["cc_num"]),
  idField: "cc_num",
  written: W,
  deadLettered: D,
  fields: [
    { name: "tid", types: ["string"], outcomes: { empty: D, nul: W, loneSurrogate: W, oversized: W } },
    {
      name: "datetime",
      types: ["number"],
      outcomes: { negativeZero: L },
      edges: [
        { label: "far past (1970-01-01)", value: 0, outcome: L },
        { label: "far future (now + 30 days), beyond MAX_FUTURE_SKEW_SECONDS", value: now + 30 * DAY, outcome: D },
        { label: "year 10000", value: 253_402_300_800_000, outcome: D },
        { label: "before 1970", value: -1, outcome: D },
        { label: "1.5", value: 1.5, outcome: D },
        { label: "2^53 + 1", value: raw("9007199254740993"), outcome: D },
        { label: "an ISO string", value: new Date(now).toISOString(), outcome: D }
      ]
    },
    {
      name: "cc_num",
      types: ["number"],
      outcomes: { negativeZero: W },
      edges: [
        // (2^53 - 2: the largest the test's independent Avro reader, avsc, decodes without refusing.)
        { label: "2^53 - 2", value: 9_007_199_254_740_990, outcome: W },
        { label: "2^53 + 1 (a 16-digit card beyond exact doubles)", value: raw("9007199254740993"), outcome: D },
        { label: "a 19-digit card", value: raw("4000000000000000001"), outcome: D },
        { label: "negative", value: -1, outcome: D },
        { label: "1.5", value: 1.5, outcome: D },
        { label: "as a string", value: "4000000000000000", outcome: D }
      ]
    },
    {
      name: "amount",
      types: ["number"],
      outcomes: { negativeZero: W },
      edges: [
        { label: "largest double", value: raw("1.7976931348623157e308"), outcome: W },
        { label: "smallest subnormal", value: raw("5e-324"), outcome: W },
        { label: "a refund (negative)", value: -25.5, outcome: W },
        { label: "a numeric string", value: "12.5", outcome: D }
      ]
    }
  ]
})

/** The window row a written record must become (JSON round trip: `-0` is written as 0). */
const expectedRow = (entry: CorpusEntry<Outcome>) => {
  const v = parsed(entry)
  const t = v["datetime"] as number
  return JSON.parse(JSON.stringify({
    cc_num: v["cc_num"],
    window_start: t - (t % MINUTE),
    num_trans_per_10m: 1,
    avg_amt_per_10m: v["amount"],
    stdev_amt_per_10m: null
  })) as Record<string, unknown>
}

describe("fuzz: card-aggregates service process", () => {
  it.live(
    "every hostile record in a window row, late or dead-lettered with a reason, every good one in its window, the checkpoint at the end",
    () =>
      Effect.gen(function*() {
        const now = Date.now()
        const hw = yield* makeLocalHopsworks({
          kafkaBootstrap: kafkaBootstrap(),
          project: uniqueName("fuzz").replace("-", "_")
        })
        const topic = uniqueName("fuzz-cards")
        const groupId = uniqueName("fuzz-cards-group")
        const lateTopic = uniqueName("fuzz-cards-late")
        const cards = spec(now)
        const baseTime = now - 3_600_000
        const corpus = buildCorpus(cards, { baseTime, stepMs: 10 })
        // After the corpus, one record ten minutes later closes every window before it (its own stays open).
        const closing = { tid: "closing", datetime: baseTime + 10 * MINUTE, cc_num: 1, amount: 1 }
        const end = corpus.length + 1

        const service = yield* serviceProcess("card-aggregates", "card-aggregates", {
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          HOPSWORKS_HOST: hw.host,
          HOPSWORKS_PORT: String(hw.port),
          HOPSWORKS_SCHEME: "http",
          HOPSWORKS_PROJECT: hw.project,
          HOPSWORKS_API_KEY: hw.apiKey,
          CARD_TRANSACTIONS_TOPIC: topic,
          CARD_AGGREGATES_GROUP_ID: groupId,
          CARD_WINDOW_START_FEATURE: "true",
          WINDOW_LENGTH_MINUTES: "1",
          WINDOW_SLIDE_MINUTES: "1",
          OUT_OF_ORDERNESS_SECONDS: "0",
          EMIT_EMPTY_WINDOWS: "false",
          LATE_RECORDS_TOPIC: lateTopic,
          LOG_LEVEL: "Warn"
        })
        // The first two (good) records alone, so that the watermark has moved before the rest arrives:
        // a past-dated record is then late whatever the batches are.
        yield* produceCorpus(topic, corpus.slice(0, 2))
        yield* until(service, "the job past the first records", checkpointReaches(groupId, topic, 2))
        yield* produceCorpus(topic, [
          ...corpus.slice(2),
          { offset: corpus.length, key: "1", value: jsonBytes(closing), good: false }
        ])
        yield* until(service, `the checkpoint at ${end}`, checkpointReaches(groupId, topic, end))

        const [deadLetters, late, rows] = yield* Effect.all(
          [wholeTopic(`${topic}.dlq`), wholeTopic(lateTopic), featureRows(hw)],
          { concurrency: 3 }
        )
        checkDeadLetters(deadLetters, topic, { expected: corpus.filter((e) => e.hostile?.outcome === D), corpus })

        const expectedLate = corpus.filter((e) => e.hostile?.outcome === L)
        assert.deepStrictEqual(
          late.map((r) => r.value!.toString("utf8")).sort(),
          expectedLate.map((e) => e.value!.toString("utf8")).sort(),
          "exactly the late records, as they were sent"
        )

        const written = corpus.filter((e) => e.good || e.hostile!.outcome === W)
        const byCard = new Map(rows.map((r) => [r["cc_num"], r]))
        const missing = written.filter((e) => !byCard.has(expectedRow(e)["cc_num"]))
        assert.deepStrictEqual(missing.map((e) => e.hostile?.label ?? `good ${e.offset}`), [], "window rows missing")
        assert.strictEqual(rows.length, written.length, "one window row per written record, none twice")
        for (const e of written) {
          const want = expectedRow(e)
          assert.deepStrictEqual(byCard.get(want["cc_num"]), want, e.hostile?.label ?? "good record")
        }
        for (const e of corpus) {
          if (e.hostile?.shadowed !== undefined) assert.isFalse(byCard.has(e.hostile.shadowed), "shadowed card")
        }
        assert.isTrue(service.alive(), "the service never exited")
        assert.strictEqual(yield* stopService(service), 0)
        console.log(
          `[fuzz card-aggregates] ${corpus.length} records: ${written.length} in window rows, ` +
            `${expectedLate.length} late, ${deadLetters.length} dead-lettered`
        )
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    60_000
  )
})
