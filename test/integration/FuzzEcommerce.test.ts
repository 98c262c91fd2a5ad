import { PgClient } from "@effect/sql-pg"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { ecommerceGroups } from "../../src/config/EcommerceConfig.ts"
import {
  buildCorpus,
  checkDeadLetters,
  checkpointReaches,
  committedOn,
  type CorpusEntry,
  type CorpusSpec,
  parsed,
  produceCorpus,
  raw,
  serviceProcess,
  stopService,
  until,
  wholeTopic
} from "../support/HostileRecords.ts"
import { allDocuments, ensureOpenSearch, searchUrl, uniqueIndex } from "../support/LocalOpenSearch.ts"
import { createTestDatabase, ensurePostgres } from "../support/LocalPostgres.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"

beforeAll(async () => {
  await ensurePostgres()
  await ensureOpenSearch()
})

/**
 * One topic, three outputs, each its own consumer group: PostgreSQL (rows and sales aggregates), the
 * search index, and failed payments per minute (event-time windows). A hostile record can be fine for
 * one output and refused by another, so the outcomes name where it ends up.
 */
type Outcome =
  | "written" // a PostgreSQL row and a document
  | "dead-lettered" // refused by the decoder: nowhere but the dead-letter topic
  | "PostgreSQL refuses" // a document; dead-lettered by the PostgreSQL group
  | "search refuses" // a row; dead-lettered by the search group
  | "both refuse" // dead-lettered by both groups
  | "too far ahead for alerts" // a row and a document; dead-lettered by the alerts group (MAX_FUTURE_SKEW_SECONDS)
  | "late for alerts" // a row and a document; a late record for the alerts windows (counted)

const inPostgres = new Set<Outcome>(["written", "search refuses", "too far ahead for alerts", "late for alerts"])
const inIndex = new Set<Outcome>(["written", "PostgreSQL refuses", "too far ahead for alerts", "late for alerts"])
const deadLetteredBy = {
  ecommerce: new Set<Outcome>(["dead-lettered", "PostgreSQL refuses", "both refuse"]),
  "ecommerce-search": new Set<Outcome>(["search refuses", "both refuse"]),
  "ecommerce-alerts": new Set<Outcome>(["too far ahead for alerts"])
}

const DAY = 86_400_000
const uuid = (n: number) => `3c9e7f1a-52b4-4d8e-9f0a-${n.toString(16).padStart(12, "0")}`

/** Free text stored in PostgreSQL `text` columns (NUL refused) and indexed as a `keyword` (over 32 KiB refused). */
const keywordText = {
  empty: "dead-lettered",
  nul: "PostgreSQL refuses",
  loneSurrogate: "dead-lettered",
  oversized: "search refuses"
} as const

const spec = (now: number): CorpusSpec<Outcome> => ({
  good: (n, eventTime) => {
    const priceCents = 525 + (n % 20) * 100
    const quantity = 1 + (n % 4)
    return {
      transactionId: uuid(n),
      productId: `product-${n % 9}`,
      productName: `Product ${n}`,
      productCategory: ["books", "garden", "toys"][n % 3],
      productPrice: priceCents / 100,
      productQuantity: quantity,
      totalAmount: (priceCents * quantity) / 100,
      productBrand: "Acme",
      currency: "usd",
      customerId: `customer-${n % 11}`,
      transactionDate: new Date(eventTime).toISOString(),
      paymentMethod: "card",
      paymentStatus: n % 5 === 0 ? "failed" : "completed"
    }
  },
  key: (v) => String(v["transactionId"]),
  idField: "transactionId",
  written: "written",
  deadLettered: "dead-lettered",
  fields: [
    {
      name: "transactionId",
      types: ["string"],
      outcomes: {
        empty: "dead-lettered",
        nul: "dead-lettered",
        loneSurrogate: "dead-lettered",
        oversized: "dead-lettered"
      },
      edges: [{ label: "upper-case UUID", value: uuid(900_001).toUpperCase(), outcome: "written" }]
    },
    { name: "productId", types: ["string"], outcomes: keywordText },
    // Analysed text, with a keyword sub-field that skips values over 256 characters.
    { name: "productName", types: ["string"], outcomes: { ...keywordText, oversized: "written" } },
    // Also a key of sales_per_category: a 70 KiB key is over PostgreSQL's index row limit.
    { name: "productCategory", types: ["string"], outcomes: { ...keywordText, oversized: "both refuse" } },
    {
      name: "productPrice",
      types: ["number"],
      outcomes: { negativeZero: "written" },
      edges: [
        { label: "999,999,999,999.99 (numeric(14,2)'s largest)", value: 999_999_999_999.99, outcome: "written" },
        { label: "1e12 (beyond numeric(14,2))", value: 1e12, outcome: "PostgreSQL refuses" },
        { label: "three decimals", value: 1.005, outcome: "dead-lettered" },
        { label: "negative", value: -1, outcome: "dead-lettered" },
        { label: "largest double", value: raw("1.7976931348623157e308"), outcome: "dead-lettered" }
      ]
    },
    {
      name: "productQuantity",
      types: ["number"],
      outcomes: { negativeZero: "dead-lettered" },
      edges: [
        { label: "2^31 - 1 (integer's largest)", value: 2_147_483_647, outcome: "written" },
        { label: "2^31 (beyond integer)", value: 2_147_483_648, outcome: "both refuse" },
        { label: "0", value: 0, outcome: "dead-lettered" },
        { label: "1.5", value: 1.5, outcome: "dead-lettered" }
      ]
    },
    {
      name: "totalAmount",
      types: ["number"],
      outcomes: { negativeZero: "written" },
      edges: [
        { label: "1e12 (beyond numeric(14,2))", value: 1e12, outcome: "PostgreSQL refuses" },
        { label: "1e15 (beyond 2^53 cents: not exact)", value: 1e15, outcome: "dead-lettered" },
        { label: "0.1 + 0.2 (not two decimals)", value: raw("0.30000000000000004"), outcome: "dead-lettered" }
      ]
    },
    { name: "productBrand", types: ["string"], outcomes: keywordText },
    {
      name: "currency",
      types: ["string"],
      outcomes: {
        empty: "dead-lettered",
        nul: "dead-lettered",
        loneSurrogate: "dead-lettered",
        oversized: "dead-lettered"
      },
      edges: [{ label: "lower case (upper-cased)", value: "eur", outcome: "written" }]
    },
    { name: "customerId", types: ["string"], outcomes: keywordText },
    {
      name: "transactionDate",
      types: ["string"],
      outcomes: {
        empty: "dead-lettered",
        nul: "dead-lettered",
        loneSurrogate: "dead-lettered",
        oversized: "dead-lettered"
      },
      edges: [
        { label: "far past (1970-01-01)", value: "1970-01-01T00:00:00Z", outcome: "late for alerts" },
        { label: "year 100", value: "0100-06-01T00:00:00Z", outcome: "late for alerts" },
        {
          label: "far future (now + 30 days)",
          value: new Date(now + 30 * DAY).toISOString(),
          outcome: "too far ahead for alerts"
        },
        { label: "last millisecond of 9999", value: "9999-12-31T23:59:59.999Z", outcome: "too far ahead for alerts" },
        { label: "no zone, space separated (UTC)", value: "2024-05-01 12:00:00", outcome: "late for alerts" },
        {
          label: "nanoseconds and an offset",
          value: "2024-05-01T12:00:00.123456789+02:00",
          outcome: "late for alerts"
        },
        { label: "30 February", value: "2024-02-30T00:00:00Z", outcome: "dead-lettered" },
        { label: "25:00", value: "2024-05-01T25:00:00Z", outcome: "dead-lettered" },
        { label: "epoch milliseconds", value: now, outcome: "dead-lettered" }
      ]
    },
    { name: "paymentMethod", types: ["string"], outcomes: keywordText },
    {
      name: "paymentStatus",
      types: ["string"],
      outcomes: keywordText,
      edges: [{ label: "FAILED (counted as failed)", value: "FAILED", outcome: "written" }]
    }
  ],
  records: [
    // The sales tables sum the totals of a day: a day with a huge sale must still take the next one.
    {
      label: "a total of 999,999,999,999.99 on 2001-01-01",
      build: (g) => ({
        ...g,
        productCategory: "yachts",
        totalAmount: 999_999_999_999.99,
        transactionDate: "2001-01-01T10:00:00Z"
      }),
      outcome: "late for alerts"
    },
    {
      label: "a total of 0.01 on the same day, same category",
      build: (g) => ({ ...g, productCategory: "yachts", totalAmount: 0.01, transactionDate: "2001-01-01T11:00:00Z" }),
      outcome: "late for alerts"
    }
  ]
})

/** Epoch ms of the seed's timestamps: ISO, zone optional (UTC), fractions cut to milliseconds. */
const epochMs = (text: string) => {
  const iso = text.replace(" ", "T").replace(/(\.\d{3})\d+/, "$1")
  return Date.parse(/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? iso : `${iso}Z`)
}

/** What PostgreSQL must hold for a record, from what was sent (money as exact decimal text). */
const expectedRow = (entry: CorpusEntry<Outcome>) => {
  const v = parsed(entry)
  return {
    id: String(v["transactionId"]).toLowerCase(),
    name: v["productName"],
    category: v["productCategory"],
    price: (v["productPrice"] as number).toFixed(2),
    quantity: v["productQuantity"],
    total: (v["totalAmount"] as number).toFixed(2),
    currency: String(v["currency"]).toUpperCase(),
    at: epochMs(String(v["transactionDate"]))
  }
}

const outcomeOf = (e: CorpusEntry<Outcome>): Outcome => (e.good ? "written" : e.hostile!.outcome)

describe("fuzz: ecommerce service process", () => {
  it.live(
    "every hostile record stored, indexed or dead-lettered by the output that refuses it; every good one everywhere; all three groups at the end",
    () =>
      Effect.gen(function*() {
        const now = Date.now()
        const databaseUrl = createTestDatabase("fuzz_eco")
        const topic = uniqueName("fuzz-ecommerce")
        const groupId = uniqueName("fuzz-ecommerce-group")
        const groups = ecommerceGroups(groupId)
        const index = uniqueIndex("fuzz-ecommerce")
        const ecommerce = spec(now)
        const corpus = buildCorpus(ecommerce, { baseTime: now - 3_600_000, stepMs: 10 })
        const end = corpus.length

        const sql = Context.get(
          yield* Layer.build(PgClient.layer({ url: Redacted.make(databaseUrl) })),
          SqlClient.SqlClient
        )
        const storedOffsets = sql<{ n: string }>`
          SELECT coalesce(sum(next_offset), 0)::text AS n FROM kafka_offsets WHERE group_id = ${groups.postgres}`.pipe(
          Effect.map((r) => Number(r[0]!.n)),
          Effect.orElseSucceed(() => 0)
        )

        const service = yield* serviceProcess("ecommerce", "ecommerce", {
          KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
          ECOMMERCE_TOPIC: topic,
          ECOMMERCE_GROUP_ID: groupId,
          PAYMENT_ALERTS_TOPIC: uniqueName("fuzz-alerts"),
          PAYMENT_ALERTS_TRANSACTIONAL_ID: uniqueName("fuzz-alerts-tx"),
          DATABASE_URL: databaseUrl,
          SEARCH_URL: searchUrl(),
          SEARCH_INDEX: index,
          SEARCH_REQUEST_TIMEOUT_MS: "15000",
          // Info: the line naming the metrics port is how the test finds /metrics.
          LOG_LEVEL: "Info"
        })
        // The first two (good) records alone, so that the alerts job's watermark has moved before the
        // rest arrives: a past-dated record is then late for its windows whatever the batches are.
        yield* produceCorpus(topic, corpus.slice(0, 2))
        yield* until(service, "the alerts job past the first records", checkpointReaches(groups.alerts, topic, 2))
        yield* produceCorpus(topic, corpus.slice(2))
        yield* until(service, `PostgreSQL's stored offsets at ${end}`, Effect.map(storedOffsets, (n) => n === end))
        yield* until(
          service,
          "the PostgreSQL and search groups' commits at the end",
          Effect.map(
            Effect.all([committedOn(groups.postgres, topic), committedOn(groups.search, topic)]),
            (cs) => cs.every((c) => c.offset === end)
          )
        )
        yield* until(service, "the alerts group's checkpoint at the end", checkpointReaches(groups.alerts, topic, end))

        const deadLetters = yield* wholeTopic(`${topic}.dlq`)
        for (const [pipeline, outcomes] of Object.entries(deadLetteredBy)) {
          const reasons = checkDeadLetters(deadLetters, topic, {
            pipeline,
            expected: corpus.filter((e) => outcomes.has(outcomeOf(e))),
            corpus
          })
          // Refused by the decoder, or by a sink after decoding: the reason says which.
          for (const e of corpus) {
            const reason = reasons.get(e.offset)
            if (reason === undefined) continue
            const bySink = outcomeOf(e) !== "dead-lettered" && outcomeOf(e) !== "too far ahead for alerts"
            assert.strictEqual(reason.startsWith("rejected by the sink"), bySink, `${e.hostile?.label}: ${reason}`)
          }
        }

        const rows = new Map(
          (yield* sql<
            {
              id: string
              name: string
              category: string
              price: string
              quantity: number
              total: string
              currency: string
              at: Date
            }
          >`
            SELECT transaction_id::text AS id, product_name AS name, product_category AS category,
                   product_price::text AS price, product_quantity AS quantity, total_amount::text AS total,
                   currency, transaction_date AS at
            FROM transactions`).map((r) => [r.id, { ...r, at: r.at.getTime() }])
        )
        const stored = corpus.filter((e) => inPostgres.has(outcomeOf(e)))
        const notStored = stored.filter((e) => !rows.has(expectedRow(e).id))
        assert.deepStrictEqual(notStored.map((e) => e.hostile?.label ?? `good ${e.offset}`), [], "rows missing")
        assert.strictEqual(rows.size, stored.length, "one row per stored record")
        for (const e of stored) {
          const want = expectedRow(e)
          assert.deepStrictEqual(rows.get(want.id), want, e.hostile?.label ?? "good record")
        }

        const documents = yield* Effect.promise(() => allDocuments(searchUrl(), index))
        const indexed = corpus.filter((e) => inIndex.has(outcomeOf(e)))
        const notIndexed = indexed.filter((e) => !documents.has(expectedRow(e).id))
        assert.deepStrictEqual(notIndexed.map((e) => e.hostile?.label ?? `good ${e.offset}`), [], "documents missing")
        assert.strictEqual(documents.size, indexed.length, "one document per indexed record")
        for (const e of indexed) {
          const want = expectedRow(e)
          const doc = documents.get(want.id)!
          assert.strictEqual(doc["totalAmount"], Number(want.total), e.hostile?.label)
          assert.strictEqual(Date.parse(String(doc["transactionDate"])), want.at, e.hostile?.label)
          assert.strictEqual(doc["productCategory"], want.category, e.hostile?.label)
        }
        for (const e of corpus) {
          if (e.hostile?.shadowed !== undefined) {
            assert.isFalse(rows.has(String(e.hostile.shadowed)), "shadowed id")
            assert.isFalse(documents.has(String(e.hostile.shadowed)), "shadowed id")
          }
        }

        // Late records are counted by the alerts job, not dead-lettered (they are valid rows).
        const late = corpus.filter((e) => outcomeOf(e) === "late for alerts").length
        const lateCounted = Effect.promise(() => service.metric("tributary_late_records_total"))
        yield* until(service, "the metrics endpoint", Effect.map(lateCounted, (n) => n !== undefined))
        assert.strictEqual(yield* lateCounted, late, "late records counted by the alerts job")
        assert.isTrue(service.alive(), "the service never exited")
        assert.strictEqual(yield* stopService(service), 0)
        console.log(
          `[fuzz ecommerce] ${corpus.length} records: ${stored.length} rows, ${indexed.length} documents, ` +
            `${deadLetters.length} dead letters, ${late} late for alerts`
        )
      }).pipe(Effect.scoped, Effect.provide(realKafkaLayer())),
    60_000
  )
})
