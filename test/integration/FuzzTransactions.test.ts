import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { normaliseTransaction, type Transaction } from "../../src/domain/Transaction.ts"
import {
  buildCorpus,
  checkDeadLetters,
  committedOn,
  type CorpusEntry,
  type CorpusSpec,
  parsed,
  produceCorpus,
  raw,
  serviceProcess,
  stopService,
  until,
  wholeTopic,
  withOutcome
} from "../support/HostileRecords.ts"
import { makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import { featureRows, transactionsServiceEnv } from "../support/TransactionsFixture.ts"

type Outcome = "written" | "dead-lettered"
const W: Outcome = "written"
const D: Outcome = "dead-lettered"
const DAY = 86_400_000

/**
 * What the transactions pipeline does with each hostile value. It is a map pipeline with no watermark,
 * so any event time from 1970 to 9999 is a valid row. The feature group's encoder refuses lone
 * surrogates (no UTF-8 form) and strings longer than their online column (varchar(100)): those records
 * are dead-lettered by the sink. NUL is an ordinary character.
 */
const spec = (now: number): CorpusSpec<Outcome> => ({
  good: (n, eventTime) => ({
    transaction_id: `fuzz-tx-${n}`,
    event_time: eventTime,
    user_id: `user-${n % 7}`,
    amount: 10 + (n % 100) / 4,
    currency: ["usd", "EUR", "gbp"][n % 3],
    category: ["food", "travel", "fuel"][n % 3]
  }),
  key: (v) => String(v["transaction_id"]),
  idField: "transaction_id",
  written: W,
  deadLettered: D,
  fields: [
    { name: "transaction_id", types: ["string"], outcomes: { empty: D, nul: W, loneSurrogate: D, oversized: D } },
    {
      name: "event_time",
      types: ["number"],
      outcomes: { negativeZero: W },
      edges: [
        { label: "far past (1970-01-01)", value: 0, outcome: W },
        { label: "far future (now + 30 days)", value: now + 30 * DAY, outcome: W },
        { label: "last millisecond of 9999", value: 253_402_300_799_999, outcome: W },
        { label: "year 10000", value: 253_402_300_800_000, outcome: D },
        { label: "before 1970", value: -1, outcome: D },
        { label: "1.5", value: 1.5, outcome: D },
        { label: "2^53 + 1", value: raw("9007199254740993"), outcome: D },
        { label: "an ISO string", value: new Date(now).toISOString(), outcome: D }
      ]
    },
    { name: "user_id", types: ["string"], outcomes: { empty: D, nul: W, loneSurrogate: D, oversized: D } },
    {
      name: "amount",
      types: ["number"],
      outcomes: { negativeZero: D },
      edges: [
        { label: "largest double", value: raw("1.7976931348623157e308"), outcome: W },
        { label: "smallest subnormal", value: raw("5e-324"), outcome: W },
        { label: "0", value: 0, outcome: D },
        { label: "negative", value: -5, outcome: D },
        { label: "a numeric string", value: "12.5", outcome: D }
      ]
    },
    {
      name: "currency",
      types: ["string"],
      outcomes: { empty: D, nul: D, loneSurrogate: D, oversized: D },
      edges: [
        { label: "lower case (upper-cased)", value: "chf", outcome: W },
        { label: "four letters", value: "USDT", outcome: D },
        { label: "non-ASCII letters", value: "ÉÜR", outcome: D }
      ]
    },
    { name: "category", types: ["string"], outcomes: { empty: D, nul: W, loneSurrogate: D, oversized: D } }
  ]
})

/** The feature row a written record must become (JSON round trip: `-0` is stored as 0). */
const expectedRow = (entry: CorpusEntry<Outcome>) =>
  JSON.parse(JSON.stringify(normaliseTransaction(parsed(entry) as unknown as Transaction))) as Record<string, unknown>

describe("fuzz: transactions service process", () => {
  it.live(
    "every hostile record written or dead-lettered with a reason, every good one written, commits at the end; a restart on the same group re-dead-letters nothing",
    () =>
      Effect.gen(function*() {
        const now = Date.now()
        const hw = yield* makeLocalHopsworks({
          kafkaBootstrap: kafkaBootstrap(),
          project: uniqueName("fuzz").replace("-", "_")
        })
        const topic = uniqueName("fuzz-transactions")
        const groupId = uniqueName("fuzz-transactions-group")
        const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, groupId)
        const transactions = spec(now)

        /** Everything written and dead-lettered so far equals what `rounds` call for, exactly once each. */
        const checkOutputs = (rounds: ReadonlyArray<ReadonlyArray<CorpusEntry<Outcome>>>) =>
          Effect.gen(function*() {
            const corpus = rounds.flat()
            const written = corpus.filter((e) => e.good || e.hostile!.outcome === W)
            // Both read at once: each read joins a fresh consumer group.
            const [deadLetters, rows] = yield* Effect.all([wholeTopic(`${topic}.dlq`), featureRows(hw)], {
              concurrency: 2
            })
            const reasons = checkDeadLetters(deadLetters, topic, {
              expected: rounds.flatMap((r) => withOutcome(transactions, r, D)),
              corpus
            })
            const byId = new Map(rows.map((r) => [String(r["transaction_id"]), r]))
            const missing = written.filter((e) => !byId.has(String(expectedRow(e)["transaction_id"])))
            assert.deepStrictEqual(missing.map((e) => e.hostile?.label ?? `good ${e.offset}`), [], "rows missing")
            assert.strictEqual(rows.length, written.length, "one feature row per written record, none twice")
            for (const e of written) {
              const want = expectedRow(e)
              assert.deepStrictEqual(byId.get(String(want["transaction_id"])), want, e.hostile?.label ?? "good record")
            }
            for (const e of corpus) {
              if (e.hostile?.shadowed !== undefined) assert.isFalse(byId.has(String(e.hostile.shadowed)), "shadowed id")
            }
            // Lone surrogates pass the schema's free-text fields; the feature group's encoder names them.
            const freeText = new Set(["transaction_id", "user_id", "category"].map((f) => `${f}: lone surrogate`))
            for (const e of corpus) {
              if (e.hostile !== undefined && freeText.has(e.hostile.label)) {
                assert.include(reasons.get(e.offset), "surrogate", e.hostile.label)
              }
            }
            return { written: written.length, deadLettered: reasons.size }
          })

        // Round 1.
        const round1 = buildCorpus(transactions, { baseTime: now - 3_600_000, stepMs: 10 })
        const { end: end1 } = yield* produceCorpus(topic, round1)
        const first = yield* serviceProcess("transactions-1", "transactions", env)
        yield* until(first, `commits at ${end1}`, Effect.map(committedOn(groupId, topic), (c) => c.offset === end1))
        const afterFirst = yield* checkOutputs([round1])
        assert.isTrue(first.alive(), "the service never exited")
        assert.strictEqual(yield* stopService(first), 0, "clean shutdown")

        // Round 2: the same cases with new ids, consumed by a restarted process on the same group.
        const round2 = buildCorpus(transactions, { baseTime: now - 1_800_000, stepMs: 10, firstOffset: end1 })
        const { end: end2 } = yield* produceCorpus(topic, round2)
        const second = yield* serviceProcess("transactions-2", "transactions", env)
        yield* until(second, `commits at ${end2}`, Effect.map(committedOn(groupId, topic), (c) => c.offset === end2))
        const afterSecond = yield* checkOutputs([round1, round2])
        assert.isTrue(second.alive(), "the restarted service never exited")
        assert.strictEqual(afterSecond.deadLettered, 2 * afterFirst.deadLettered, "round 1 not dead-lettered again")
        assert.strictEqual(afterSecond.written, 2 * afterFirst.written)
        assert.strictEqual(yield* stopService(second), 0)
        console.log(
          `[fuzz transactions] ${round1.length} records per round: ${afterFirst.written} written, ` +
            `${afterFirst.deadLettered} dead-lettered`
        )
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    60_000
  )
})
