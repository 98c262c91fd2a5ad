import cassandra from "cassandra-driver"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { type CassandraSettings, cassandraSettings, type WriteConsistency } from "../../config/UserEventsConfig.ts"
import { transientBackoff } from "../../shared/Retry.ts"
import { type CassandraError, cassandraError } from "./CassandraError.ts"

export type Row = cassandra.types.Row

export interface Statement {
  readonly query: string
  readonly params: ReadonlyArray<unknown>
}

const consistencies: Record<WriteConsistency, number> = {
  ONE: cassandra.types.consistencies.one,
  LOCAL_ONE: cassandra.types.consistencies.localOne,
  QUORUM: cassandra.types.consistencies.quorum,
  LOCAL_QUORUM: cassandra.types.consistencies.localQuorum,
  EACH_QUORUM: cassandra.types.consistencies.eachQuorum,
  ALL: cassandra.types.consistencies.all
}

/**
 * A connected `cassandra-driver` client (scoped: connected on acquire, shut down on release). Statements
 * are prepared once by the driver and reused; every call maps driver failures to `CassandraError`.
 */
export class CassandraClient extends Context.Service<CassandraClient, {
  readonly settings: CassandraSettings
  /** One statement; all pages when it is a query. */
  readonly execute: (
    query: string,
    params?: ReadonlyArray<unknown>,
    options?: { readonly idempotent?: boolean }
  ) => Effect.Effect<ReadonlyArray<Row>, CassandraError>
  /** An unlogged batch: atomic and isolated only within one partition, which is how the sinks use it. */
  readonly unloggedBatch: (statements: ReadonlyArray<Statement>) => Effect.Effect<void, CassandraError>
}>()("tributary/sinks/cassandra/CassandraClient") {
  /** Connects to the cluster in `settings`, waiting (with backoff) while it is still starting. */
  static readonly layer = (settings: CassandraSettings, options?: { readonly connectAttempts?: number }) =>
    Layer.effect(
      CassandraClient,
      Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        const client = yield* Effect.acquireRelease(
          connect(settings, (message) => Effect.runForkWith(context)(Effect.logWarning(message))).pipe(
            Effect.tapError((e) => Effect.logWarning(`Cassandra not reachable yet: ${e.message}`)),
            Effect.retry({
              schedule: transientBackoff,
              times: options?.connectAttempts ?? 30,
              while: (e) => e.transient
            })
          ),
          (c) => Effect.promise(() => c.shutdown().catch(() => undefined))
        )
        const writeOptions = {
          prepare: true,
          isIdempotent: true,
          consistency: consistencies[settings.writeConsistency]
        }

        const execute = (
          query: string,
          params: ReadonlyArray<unknown> = [],
          opts?: { readonly idempotent?: boolean }
        ) =>
          Effect.tryPromise({
            try: async () => {
              const rows: Array<Row> = []
              const queryOptions = { ...writeOptions, isIdempotent: opts?.idempotent ?? true, fetchSize: 5_000 }
              // Schema statements answer without rows; queries page by pageState.
              let page = await client.execute(query, [...params], queryOptions)
              for (const row of page.rows ?? []) rows.push(row)
              while (page.pageState && (page.rows ?? []).length > 0) {
                page = await client.execute(query, [...params], { ...queryOptions, pageState: page.pageState })
                for (const row of page.rows ?? []) rows.push(row)
              }
              return rows
            },
            catch: cassandraError(`execute ${query.slice(0, 60)}`)
          })

        const unloggedBatch = (statements: ReadonlyArray<Statement>) =>
          Effect.tryPromise({
            try: () =>
              client.batch(
                statements.map((s) => ({ query: s.query, params: s.params as Array<unknown> })),
                { ...writeOptions, logged: false }
              ),
            catch: cassandraError("batch write")
          }).pipe(Effect.asVoid)

        return CassandraClient.of({ settings, execute, unloggedBatch })
      })
    )

  /** The cluster named by CASSANDRA_* variables. */
  static readonly layerConfig = Layer.unwrap(Effect.map(cassandraSettings, (s) => CassandraClient.layer(s)))
}

/** One connection attempt with a fresh driver client (a client whose connect failed is shut down, not reused). */
const connect = (settings: CassandraSettings, warn: (message: string) => void) =>
  Effect.tryPromise({
    try: async () => {
      const client = new cassandra.Client({
        contactPoints: [...settings.contactPoints],
        localDataCenter: settings.localDataCenter,
        ...Option.match(settings.credentials, {
          onNone: () => ({}),
          onSome: (c) => ({ credentials: { username: c.username, password: Redacted.value(c.password) } })
        }),
        socketOptions: { connectTimeout: settings.connectTimeoutMs, readTimeout: settings.requestTimeoutMs },
        policies: {
          // The default waits up to 10 minutes between reconnection attempts; a node back from a pause or
          // restart should be used again within seconds.
          reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 5_000, false)
        },
        pooling: { heartBeatInterval: 5_000 }
      })
      client.on("log", (level: string, className: string, message: string) => {
        if (level === "error") warn(`cassandra-driver ${className}: ${message}`)
      })
      try {
        await client.connect()
        return client
      } catch (error) {
        await client.shutdown().catch(() => undefined)
        throw error
      }
    },
    catch: cassandraError(`connect to ${settings.contactPoints.join(",")}`)
  })
