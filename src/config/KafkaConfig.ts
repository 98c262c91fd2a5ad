import { Config, Context, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { booleanAnyCase, literalsAnyCase } from "./AnyCase.ts"

/** Where TLS material comes from: inline PEM text, or a file holding it. */
export type Pem = { readonly _tag: "Inline"; readonly pem: Redacted.Redacted } | {
  readonly _tag: "File"
  readonly path: string
}

export interface KafkaSettings {
  /** None means "no Kafka configured": the service runs against the in-memory broker (embedded demo). */
  readonly brokers: Option.Option<ReadonlyArray<string>>
  readonly clientId: string
  readonly ssl: Option.Option<{
    readonly ca: Option.Option<Pem>
    readonly cert: Option.Option<Pem>
    readonly key: Option.Option<Pem>
    /** Client key and chain as PKCS#12 (Node's `pfx`), when they come that way (a BYOK connector's keystore). */
    readonly pfx?: { readonly data: Redacted.Redacted<Uint8Array>; readonly passphrase: Redacted.Redacted } | undefined
    readonly rejectUnauthorized: boolean
    /** False for clusters whose certificates do not name their hosts (Hopsworks-managed Kafka). */
    readonly verifyHostname: boolean
  }>
  readonly sasl: Option.Option<{
    readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512"
    readonly username: string
    readonly password: Redacted.Redacted
  }>
  readonly connectionTimeoutMs: number
  readonly requestTimeoutMs: number
  /** Upper bound on records fetched but not yet taken by the pipeline (back-pressure). */
  readonly maxBufferedRecords: number
  readonly maxBufferedBytes: number
  readonly maxBytesPerPartition: number
  readonly partitionsConsumedConcurrently: number
  /**
   * How long the broker lets a transaction stay open before aborting it (platformatic transactions). Also
   * how long a crashed process's open transaction holds back the new owner of its partitions, when
   * it restarts without KAFKA_GROUP_INSTANCE_ID (with it, the restart fences the old one at once).
   */
  readonly transactionTimeoutMs: number
  /** The client behind plain produces (default: `client`): kafkajs or @platformatic/kafka (faster; see PlatformaticSink). */
  readonly producerClient: "kafkajs" | "platformatic"
  /**
   * The client behind consumer groups (KafkaSource): kafkajs (default) or @platformatic/kafka (see
   * PlatformaticSource). With platformatic, plain produces and transactions also go through it; admin stays on kafkajs.
   */
  readonly client: "kafkajs" | "platformatic"
  /** KAFKA_GROUP_INSTANCE_ID as written (static membership, platformatic only); see {@link groupInstanceIdFor}. */
  readonly groupInstanceId: Option.Option<string>
  /**
   * KAFKA_REBALANCE_PROTOCOL: `cooperative` (the cooperative-sticky assignor: a rebalance revokes only the
   * partitions that move, the others keep their position and window state; platformatic only, its default)
   * or `eager` (every rebalance revokes every partition; kafkajs's only one).
   */
  readonly rebalanceProtocol: "cooperative" | "eager"
}

const pem = (name: string): Config.Config<Option.Option<Pem>> =>
  Config.all({
    inline: Config.option(Config.Redacted(name)),
    file: Config.option(Config.String(`${name}_FILE`))
  }).pipe(Config.map(({ file, inline }): Option.Option<Pem> =>
    Option.isSome(inline)
      ? Option.some({ _tag: "Inline", pem: inline.value })
      : Option.map(file, (path) => ({ _tag: "File", path }))
  ))

const brokerList = Config.String("KAFKA_BOOTSTRAP_SERVERS").pipe(
  Config.map((s) => s.split(",").map((b) => b.trim()).filter((b) => b.length > 0))
)

/**
 * @platformatic/kafka by default: it passes the same suite (crash, restart, scale-out, exactly-once)
 * and consumes an order of magnitude faster here; it also does static membership. kafkajs stays
 * supported (KAFKA_CLIENT=kafkajs).
 */
export const defaultKafkaClient = "platformatic" as const

const clientConfig = literalsAnyCase(["kafkajs", "platformatic"], "KAFKA_CLIENT").pipe(
  Config.withDefault<KafkaSettings["client"]>(defaultKafkaClient)
)

/**
 * KAFKA_PRODUCER_CLIENT, defaulting to KAFKA_CLIENT: also read on its own by the feature store, whose
 * Kafka cluster Hopsworks names.
 */
export const producerClientConfig = Config.option(
  literalsAnyCase(["kafkajs", "platformatic"], "KAFKA_PRODUCER_CLIENT")
).pipe(Config.flatMap(Option.match({ onNone: () => clientConfig, onSome: (c) => Config.succeed(c) })))

/** Asking kafkajs for static membership fails here, so start-up stops with one line naming the variable. */
const groupInstanceIdConfig = (client: KafkaSettings["client"]) =>
  Config.option(Config.schema(
    client === "kafkajs"
      ? Schema.String.check(Schema.makeFilter(() =>
        "kafkajs cannot do static membership; set KAFKA_CLIENT=platformatic or unset this variable"
      ))
      : Schema.String.check(Schema.isPattern(/^\S+$/)),
    "KAFKA_GROUP_INSTANCE_ID"
  ))

/** Cooperative where the client can do it; asking kafkajs for it stops start-up with one line. */
const rebalanceProtocolConfig = (client: KafkaSettings["client"]): Config.Config<KafkaSettings["rebalanceProtocol"]> =>
  client === "kafkajs"
    ? Config.schema(
      Schema.String.check(Schema.makeFilter((s) =>
        s.trim().toLowerCase() === "eager" ||
        "kafkajs cannot rebalance cooperatively; set KAFKA_CLIENT=platformatic or KAFKA_REBALANCE_PROTOCOL=eager"
      )),
      "KAFKA_REBALANCE_PROTOCOL"
    ).pipe(Config.map(() => "eager" as const), Config.withDefault("eager" as const))
    : literalsAnyCase(["cooperative", "eager"], "KAFKA_REBALANCE_PROTOCOL").pipe(
      Config.withDefault<KafkaSettings["rebalanceProtocol"]>("cooperative")
    )

/**
 * The group.instance.id a consumer of `groupId` uses. Kafka wants it unique per group member, and one
 * process may run several groups (pipelines, ecommerce's three sinks), so the group id is always part of
 * it: `{group}` in KAFKA_GROUP_INSTANCE_ID is replaced by the group id; without the placeholder the
 * group id is appended (`pod-0` → `pod-0-<group id>`).
 */
export const groupInstanceIdFor = (template: string, groupId: string): string =>
  template.includes("{group}") ? template.replaceAll("{group}", groupId) : `${template}-${groupId}`

const baseSettings = Config.all({
  brokers: Config.option(brokerList),
  clientId: Config.String("KAFKA_CLIENT_ID").pipe(Config.withDefault("tributary")),
  ssl: Config.all({
    enabled: booleanAnyCase("KAFKA_SSL").pipe(Config.withDefault(false)),
    ca: pem("KAFKA_SSL_CA"),
    cert: pem("KAFKA_SSL_CERT"),
    key: pem("KAFKA_SSL_KEY"),
    rejectUnauthorized: booleanAnyCase("KAFKA_SSL_REJECT_UNAUTHORIZED").pipe(Config.withDefault(true)),
    verifyHostname: booleanAnyCase("KAFKA_SSL_VERIFY_HOSTNAME").pipe(Config.withDefault(true))
  }).pipe(
    Config.map(({ enabled, ...tls }) =>
      enabled || Option.isSome(tls.ca) || Option.isSome(tls.cert) ? Option.some(tls) : Option.none()
    )
  ),
  sasl: Config.option(Config.all({
    mechanism: literalsAnyCase(["plain", "scram-sha-256", "scram-sha-512"], "KAFKA_SASL_MECHANISM"),
    username: Config.String("KAFKA_SASL_USERNAME"),
    password: Config.Redacted("KAFKA_SASL_PASSWORD")
  })),
  connectionTimeoutMs: Config.Int("KAFKA_CONNECTION_TIMEOUT_MS").pipe(Config.withDefault(10_000)),
  requestTimeoutMs: Config.Int("KAFKA_REQUEST_TIMEOUT_MS").pipe(Config.withDefault(30_000)),
  maxBufferedRecords: Config.Int("KAFKA_MAX_BUFFERED_RECORDS").pipe(Config.withDefault(10_000)),
  // Sized for a small container. Held at most: this buffer, the groups being written (two, for outputs
  // writing concurrently) and one fetch waiting for room (fetches follow this bound): about 4× this.
  maxBufferedBytes: Config.Int("KAFKA_MAX_BUFFERED_BYTES").pipe(Config.withDefault(64 * 1024 * 1024)),
  maxBytesPerPartition: Config.Int("KAFKA_MAX_BYTES_PER_PARTITION").pipe(Config.withDefault(4 * 1024 * 1024)),
  partitionsConsumedConcurrently: Config.Int("KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY").pipe(Config.withDefault(2)),
  transactionTimeoutMs: Config.Int("KAFKA_TRANSACTION_TIMEOUT_MS").pipe(Config.withDefault(10_000)),
  producerClient: producerClientConfig,
  client: clientConfig
})

export const kafkaSettings: Config.Config<KafkaSettings> = baseSettings.pipe(
  Config.flatMap((base) =>
    Config.map(
      Config.all({
        groupInstanceId: groupInstanceIdConfig(base.client),
        rebalanceProtocol: rebalanceProtocolConfig(base.client)
      }),
      (more) => ({ ...base, ...more })
    )
  )
)

export class KafkaConfig extends Context.Service<KafkaConfig, KafkaSettings>()("tributary/config/KafkaConfig") {
  static readonly layer = Layer.effect(KafkaConfig, Effect.map(kafkaSettings, KafkaConfig.of))
  static readonly layerWith = (
    settings: Partial<Omit<KafkaSettings, "brokers">> & { readonly brokers: ReadonlyArray<string> }
  ) =>
    Layer.succeed(
      KafkaConfig,
      KafkaConfig.of({
        clientId: "tributary-test",
        ssl: Option.none(),
        sasl: Option.none(),
        connectionTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        maxBufferedRecords: 10_000,
        maxBufferedBytes: 64 * 1024 * 1024,
        maxBytesPerPartition: 4 * 1024 * 1024,
        partitionsConsumedConcurrently: 2,
        transactionTimeoutMs: 10_000,
        client: defaultKafkaClient,
        groupInstanceId: Option.none(),
        ...settings,
        rebalanceProtocol: settings.rebalanceProtocol ?? (settings.client === "kafkajs" ? "eager" : "cooperative"),
        // As with the variables: the producer follows the client unless named.
        producerClient: settings.producerClient ?? settings.client ?? defaultKafkaClient,
        brokers: Option.some(settings.brokers)
      })
    )
}
