import { Config, Option, Redacted } from "effect"
import { sourceSettings } from "./PipelineConfig.ts"

/** Where the `ecommerce` pipeline keeps rows and aggregates. The default is the local server of scripts/postgres.sh. */
export const postgresSettings = Config.all({
  /** A URL may hold a password, so it is Redacted like one. */
  url: Config.Redacted("DATABASE_URL").pipe(
    Config.withDefault(Redacted.make("postgres://postgres@127.0.0.1:55432/tributary"))
  ),
  maxConnections: Config.Int("DATABASE_MAX_CONNECTIONS").pipe(Config.withDefault(4))
})
export type PostgresSettings = Config.Success<typeof postgresSettings>

export type SearchAuth =
  | { readonly _tag: "None" }
  | { readonly _tag: "Basic"; readonly username: string; readonly password: Redacted.Redacted }
  | { readonly _tag: "ApiKey"; readonly apiKey: Redacted.Redacted }

/**
 * Elasticsearch 8/9 or OpenSearch 2.x over plain HTTP(S). The default is the local node of
 * scripts/opensearch.sh. An API key wins over a user name and password.
 */
export const searchSettings = Config.all({
  url: Config.String("SEARCH_URL").pipe(
    Config.withDefault("http://127.0.0.1:19200"),
    Config.map((u) => u.replace(/\/+$/, ""))
  ),
  index: Config.String("SEARCH_INDEX").pipe(Config.withDefault("transactions")),
  username: Config.option(Config.String("SEARCH_USERNAME")),
  password: Config.option(Config.Redacted("SEARCH_PASSWORD")),
  apiKey: Config.option(Config.Redacted("SEARCH_API_KEY")),
  /** Documents per `_bulk` request; a bigger Kafka batch is split. */
  bulkMaxDocs: Config.Int("SEARCH_BULK_MAX_DOCS").pipe(Config.withDefault(2_000)),
  /** A request without an answer by then is abandoned and retried (a hung engine must not hang the sink). */
  requestTimeoutMs: Config.Int("SEARCH_REQUEST_TIMEOUT_MS").pipe(Config.withDefault(30_000))
}).pipe(Config.map(({ apiKey, password, username, ...rest }) => {
  const auth: SearchAuth = Option.isSome(apiKey)
    ? { _tag: "ApiKey", apiKey: apiKey.value }
    : Option.isSome(username)
    ? { _tag: "Basic", username: username.value, password: Option.getOrElse(password, () => Redacted.make("")) }
    : { _tag: "None" }
  return { ...rest, auth }
}))
export type SearchSettings = Config.Success<typeof searchSettings>

/**
 * The `ecommerce` pipeline (seed 002). One topic, three independent consumer groups derived from
 * ECOMMERCE_GROUP_ID (`.postgres`, `.search`, `.alerts`), so each output progresses on its own.
 */
export const ecommerceSettings = Config.all({
  ...sourceSettings(["ECOMMERCE_TOPIC", "financial_transactions"], ["ECOMMERCE_GROUP_ID", "tributary-ecommerce"]),
  alertsTopic: Config.String("PAYMENT_ALERTS_TOPIC").pipe(Config.withDefault("payment-alerts")),
  /** How far out of order `transactionDate` may arrive before a minute's count is final. */
  alertsOutOfOrdernessMs: Config.Int("PAYMENT_ALERTS_OUT_OF_ORDERNESS_MS").pipe(Config.withDefault(5_000)),
  /** A minute is published when it has at least this many failed payments. */
  alertsThreshold: Config.Int("PAYMENT_ALERTS_THRESHOLD").pipe(Config.withDefault(1)),
  alertsTransactionalId: Config.option(Config.String("PAYMENT_ALERTS_TRANSACTIONAL_ID")),
  postgres: postgresSettings,
  search: searchSettings
}).pipe(Config.map(({ alertsTransactionalId, ...s }) => ({
  ...s,
  alertsTransactionalId: Option.getOrElse(alertsTransactionalId, () => `${s.groupId}.alerts.${s.topic}`)
})))
export type EcommerceSettings = Config.Success<typeof ecommerceSettings>

/** The consumer group of each output. */
export const ecommerceGroups = (groupId: string) => ({
  postgres: `${groupId}.postgres`,
  search: `${groupId}.search`,
  alerts: `${groupId}.alerts`
})
