import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Schema of the `ecommerce` pipeline, applied by effect/sql's Migrator on start (keys `<id>_<name>`,
 * run in id order, each once). A transaction's money is numeric(14,2): exact to the cent, never a
 * float; the sales totals are unconstrained numeric (still exact), since sums outgrow any one amount.
 * One statement per call: the driver prepares statements, and a prepared statement holds one command.
 */
export const ecommerceMigrations = {
  "1_ecommerce_tables": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // One row per transaction; the Kafka coordinates say where it came from (for audits).
    yield* sql`
      CREATE TABLE IF NOT EXISTS transactions (
        transaction_id uuid PRIMARY KEY,
        product_id text NOT NULL,
        product_name text NOT NULL,
        product_category text NOT NULL,
        product_price numeric(14,2) NOT NULL,
        product_quantity integer NOT NULL,
        total_amount numeric(14,2) NOT NULL,
        product_brand text NOT NULL,
        currency char(3) NOT NULL,
        customer_id text NOT NULL,
        transaction_date timestamptz NOT NULL,
        payment_method text NOT NULL,
        payment_status text NOT NULL,
        kafka_topic text NOT NULL,
        kafka_partition integer NOT NULL
      )`
    yield* sql`CREATE INDEX IF NOT EXISTS transactions_transaction_date ON transactions (transaction_date)`
    // Aggregates by UTC calendar day / month, as the seed's Flink job keeps them.
    yield* sql`
      CREATE TABLE IF NOT EXISTS sales_per_category (
        transaction_date date NOT NULL,
        category text NOT NULL,
        total_sales numeric(14,2) NOT NULL,
        PRIMARY KEY (transaction_date, category)
      )`
    yield* sql`
      CREATE TABLE IF NOT EXISTS sales_per_day (
        transaction_date date PRIMARY KEY,
        total_sales numeric(14,2) NOT NULL
      )`
    yield* sql`
      CREATE TABLE IF NOT EXISTS sales_per_month (
        year integer NOT NULL,
        month integer NOT NULL,
        total_sales numeric(14,2) NOT NULL,
        PRIMARY KEY (year, month)
      )`
    // Next offset to consume per group and partition: written in the same statement as the rows.
    yield* sql`
      CREATE TABLE IF NOT EXISTS kafka_offsets (
        group_id text NOT NULL,
        topic text NOT NULL,
        partition integer NOT NULL,
        next_offset bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, topic, partition)
      )`
  }),
  /**
   * A day's (category's, month's) sales add up past numeric(14,2) long before one transaction does:
   * with a bounded total, one large sale made every later transaction of that day fail the statement
   * (numeric field overflow) and be dead-lettered. Sums of two-decimal amounts keep two decimals.
   */
  "2_unbounded_sales_totals": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE sales_per_category ALTER COLUMN total_sales TYPE numeric`
    yield* sql`ALTER TABLE sales_per_day ALTER COLUMN total_sales TYPE numeric`
    yield* sql`ALTER TABLE sales_per_month ALTER COLUMN total_sales TYPE numeric`
  })
}
