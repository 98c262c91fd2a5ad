import { PgClient } from "@effect/sql-pg"
import { Context, Data, Effect, Layer } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import { isSqlError } from "effect/sql/SqlError"
import type { PostgresSettings } from "../../config/EcommerceConfig.ts"
import {
  addSales,
  type EcommerceRow,
  emptySalesAggregates,
  formatCents,
  type SalesAggregates
} from "../../domain/EcommerceTransaction.ts"
import type { TopicPartition } from "../../kafka/KafkaRecord.ts"
import type { FailureKind } from "../../shared/Retry.ts"
import { ecommerceMigrations } from "./EcommerceMigrations.ts"

export class PostgresSinkError extends Data.TaggedError("PostgresSinkError")<{
  readonly operation: string
  readonly message: string
  readonly cause: unknown
}> {}

const sinkError = (operation: string) => (cause: unknown) =>
  new PostgresSinkError({ operation, message: `${operation}: ${describeCause(cause)}`, cause })

/**
 * The error's message, plus the server's own words when PostgreSQL answered (e.g. "numeric field
 * overflow (SQLSTATE 22003)"): this text becomes the reason header of a dead-lettered record.
 */
const describeCause = (cause: unknown): string => {
  const text = cause instanceof Error ? cause.message : String(cause)
  if (!isSqlError(cause)) return text
  const server = cause.reason.cause as { readonly message?: unknown; readonly code?: unknown } | undefined
  return typeof server?.message === "string" && typeof server.code === "string"
    ? `${text}: ${server.message} (SQLSTATE ${server.code})`
    : text
}

/**
 * What a failed statement means for the runner: a value PostgreSQL (or the driver) cannot store
 * (SQLSTATE class 22, e.g. a number out of range or a NUL in text; class 23, a constraint; class 54, a
 * value over a limit of the server, e.g. a key too long for its index; a parameter the driver cannot
 * encode) is the batch's data at fault — the runner bisects the batch, so a limit the whole batch hit
 * is passed by its halves and only a record failing on its own is dead-lettered;
 * credentials, permissions and SQL errors will not pass by retrying; everything else (connections,
 * deadlocks, timeouts, unknown) is retried.
 */
export const classifyPostgresError = (error: PostgresSinkError): FailureKind => {
  const reason = isSqlError(error.cause) ? error.cause.reason : undefined
  if (reason === undefined) return "transient"
  switch (reason._tag) {
    case "UniqueViolation":
    case "ConstraintError":
      return "rejected"
    case "AuthenticationError":
    case "AuthorizationError":
    case "SqlSyntaxError":
      return "permanent"
    case "UnknownError": {
      // The driver could not encode a parameter (an integer beyond its column type): the data again.
      if (reason.message?.includes("Failed to encode") === true) return "rejected"
      const code = (reason.cause as { readonly code?: unknown } | undefined)?.code
      return typeof code === "string" && (code.startsWith("22") || code.startsWith("54")) ? "rejected" : "transient"
    }
    default:
      return "transient"
  }
}

/** One Kafka batch of one partition, and the offset to resume from once it is stored. */
export interface StoreBatch {
  readonly groupId: string
  readonly topic: string
  readonly partition: number
  /** Offset after the batch's last record (malformed ones included). */
  readonly nextOffset: string
  readonly rows: ReadonlyArray<EcommerceRow>
}

export interface StoredOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: string
}

/**
 * The `ecommerce` pipeline's PostgreSQL side: raw rows, incrementally maintained sales aggregates and
 * the consumed Kafka offsets, all written by ONE statement per batch, so they commit or roll back
 * together. That is what makes it exactly-once: after a crash the source resumes from the stored
 * offsets (`startOffsets`), and a batch that is delivered again anyway (a zombie owner after a
 * rebalance, a duplicate in the topic) inserts nothing, because aggregates only add rows that
 * `INSERT ... ON CONFLICT DO NOTHING RETURNING` actually inserted.
 */
export class EcommerceStore extends Context.Service<EcommerceStore, {
  /** Creates or upgrades the schema (idempotent; concurrent starts wait for each other). */
  readonly migrate: Effect.Effect<void, PostgresSinkError>
  /** Stored next offsets of a group for the given partitions (those never written are left out). */
  readonly startOffsets: (
    groupId: string,
    partitions: ReadonlyArray<TopicPartition>
  ) => Effect.Effect<ReadonlyArray<StoredOffset>, PostgresSinkError>
  /** Stores a batch's rows, aggregate increments and next offset atomically; returns how many rows were new. */
  readonly writeBatch: (batch: StoreBatch) => Effect.Effect<number, PostgresSinkError>
}>()("tributary/sinks/postgres/EcommerceStore") {
  /** Over the SqlClient in context (PostgreSQL). */
  static readonly layerNoDeps = Layer.effect(
    EcommerceStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const runMigrations = Migrator.make({})

      const migrate = runMigrations({
        loader: Migrator.fromRecord(ecommerceMigrations),
        table: "tributary_ecommerce_migrations"
      }).pipe(
        Effect.tap((applied) =>
          applied.length === 0
            ? Effect.void
            : Effect.logInfo(`applied migrations: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
        ),
        Effect.asVoid,
        Effect.mapError(sinkError("migrate")),
        Effect.provideService(SqlClient.SqlClient, sql)
      )

      const startOffsets = (groupId: string, partitions: ReadonlyArray<TopicPartition>) =>
        partitions.length === 0 ? Effect.succeed([]) : sql<{ topic: string; partition: number; offset: string }>`
          SELECT o.topic, o.partition, o.next_offset::text AS offset
          FROM kafka_offsets o
          JOIN unnest(${partitions.map((p) => p.topic)}::text[], ${partitions.map((p) => p.partition)}::int[])
            AS wanted(topic, partition) USING (topic, partition)
          WHERE o.group_id = ${groupId}
        `.pipe(Effect.mapError(sinkError("read stored offsets")))

      const writeBatch = (batch: StoreBatch) => {
        const rows = batch.rows
        // Column arrays + unnest: one statement and 13 parameters whatever the batch size.
        const col = <A>(f: (r: EcommerceRow) => A) => rows.map(f)
        return sql<{ inserted: number }>`
          WITH input AS (
            SELECT * FROM unnest(
              ${col((r) => r.transactionId)}::uuid[],
              ${col((r) => r.productId)}::text[],
              ${col((r) => r.productName)}::text[],
              ${col((r) => r.productCategory)}::text[],
              ${col((r) => formatCents(r.productPriceCents))}::numeric[],
              ${col((r) => r.productQuantity)}::int[],
              ${col((r) => formatCents(r.totalAmountCents))}::numeric[],
              ${col((r) => r.productBrand)}::text[],
              ${col((r) => r.currency)}::text[],
              ${col((r) => r.customerId)}::text[],
              ${col((r) => new Date(r.transactionTime).toISOString())}::timestamptz[],
              ${col((r) => r.paymentMethod)}::text[],
              ${col((r) => r.paymentStatus)}::text[]
            ) AS t(transaction_id, product_id, product_name, product_category, product_price, product_quantity,
                   total_amount, product_brand, currency, customer_id, transaction_date, payment_method, payment_status)
          ),
          inserted AS (
            INSERT INTO transactions (transaction_id, product_id, product_name, product_category, product_price,
              product_quantity, total_amount, product_brand, currency, customer_id, transaction_date, payment_method,
              payment_status, kafka_topic, kafka_partition)
            SELECT transaction_id, product_id, product_name, product_category, product_price, product_quantity,
              total_amount, product_brand, currency, customer_id, transaction_date, payment_method, payment_status,
              ${batch.topic}, ${batch.partition}
            FROM input
            ON CONFLICT (transaction_id) DO NOTHING
            RETURNING (transaction_date AT TIME ZONE 'UTC') AS utc_time, product_category, total_amount
          ),
          per_category AS (
            INSERT INTO sales_per_category AS s (transaction_date, category, total_sales)
            SELECT utc_time::date, product_category, sum(total_amount) FROM inserted GROUP BY 1, 2
            ON CONFLICT (transaction_date, category) DO UPDATE SET total_sales = s.total_sales + excluded.total_sales
          ),
          per_day AS (
            INSERT INTO sales_per_day AS s (transaction_date, total_sales)
            SELECT utc_time::date, sum(total_amount) FROM inserted GROUP BY 1
            ON CONFLICT (transaction_date) DO UPDATE SET total_sales = s.total_sales + excluded.total_sales
          ),
          per_month AS (
            INSERT INTO sales_per_month AS s (year, month, total_sales)
            SELECT extract(year FROM utc_time)::int, extract(month FROM utc_time)::int, sum(total_amount)
            FROM inserted GROUP BY 1, 2
            ON CONFLICT (year, month) DO UPDATE SET total_sales = s.total_sales + excluded.total_sales
          ),
          stored_offset AS (
            INSERT INTO kafka_offsets AS o (group_id, topic, partition, next_offset)
            VALUES (${batch.groupId}, ${batch.topic}, ${batch.partition}, ${batch.nextOffset}::bigint)
            -- greatest: a late batch of a previous owner never moves the offset back
            ON CONFLICT (group_id, topic, partition)
            DO UPDATE SET next_offset = greatest(o.next_offset, excluded.next_offset), updated_at = now()
          )
          SELECT count(*)::int AS inserted FROM inserted
        `.pipe(
          Effect.map((result) => result[0]?.inserted ?? 0),
          Effect.mapError(sinkError("write batch"))
        )
      }

      return EcommerceStore.of({ migrate, startOffsets, writeBatch })
    })
  )

  /** The PostgreSQL store at DATABASE_URL, with a small connection pool held for as long as the layer lives. */
  static readonly layer = (settings: PostgresSettings) =>
    EcommerceStore.layerNoDeps.pipe(
      Layer.provide(PgClient.layer({
        url: settings.url,
        maxConnections: settings.maxConnections,
        applicationName: "tributary-ecommerce"
      }))
    )

  /**
   * In process memory, with the same semantics (unique transaction ids, atomic batches, offsets that
   * never go back): unit tests and the demo. Pass the state to inspect it.
   */
  static readonly layerInMemory = (state: InMemoryEcommerceStore = new InMemoryEcommerceStore()) =>
    Layer.succeed(
      EcommerceStore,
      EcommerceStore.of({
        migrate: Effect.void,
        startOffsets: (groupId, partitions) => Effect.sync(() => state.startOffsets(groupId, partitions)),
        writeBatch: (batch) => Effect.try({ try: () => state.write(batch), catch: sinkError("write batch") })
      })
    )
}

/** State of the in-memory store, exposed so unit tests can inspect it. */
export class InMemoryEcommerceStore {
  readonly rows = new Map<string, EcommerceRow>()
  readonly aggregates: SalesAggregates = emptySalesAggregates()
  readonly offsets = new Map<string, bigint>()
  /** Set to fail the next N writes (transport failure), to test retries. */
  failNextWrites = 0
  /** Rows handed to `write` so far (inserted or not): shows what was consumed again. */
  rowsOffered = 0

  startOffsets(groupId: string, partitions: ReadonlyArray<TopicPartition>): Array<StoredOffset> {
    return partitions.flatMap((p) => {
      const o = this.offsets.get(`${groupId}|${p.topic}|${p.partition}`)
      return o === undefined ? [] : [{ topic: p.topic, partition: p.partition, offset: o.toString() }]
    })
  }

  write(batch: StoreBatch): number {
    if (this.failNextWrites > 0) {
      this.failNextWrites--
      throw new Error("simulated database outage")
    }
    this.rowsOffered += batch.rows.length
    const inserted: Array<EcommerceRow> = []
    for (const r of batch.rows) {
      if (this.rows.has(r.transactionId)) continue
      this.rows.set(r.transactionId, r)
      inserted.push(r)
    }
    addSales(this.aggregates, inserted)
    const key = `${batch.groupId}|${batch.topic}|${batch.partition}`
    const next = BigInt(batch.nextOffset)
    const prev = this.offsets.get(key)
    if (prev === undefined || next > prev) this.offsets.set(key, next)
    return inserted.length
  }
}
