import type { Option, Redacted } from "effect"

/**
 * What callers hand the Hopsworks client and what they get back (the wire DTOs are in
 * HopsworksSchemas). `HopsworksClient.ts` re-exports these, so callers import them from there.
 */

/** One feature as a pipeline declares it. */
export interface FeatureSpec {
  readonly name: string
  /** Hive type: string, bigint, int, double, float, boolean, timestamp, date, decimal(p,s), array<..>, ... */
  readonly type: string
  /**
   * The online (RonDB/MySQL) column type, e.g. `varchar(1000)` for strings longer than the default
   * `varchar(100)`; the server's default when absent (see OnlineTypes).
   */
  readonly onlineType?: string | undefined
}

/** What a pipeline declares about the feature group it writes. */
export interface FeatureGroupSpec {
  readonly name: string
  readonly version: number
  readonly description?: string | undefined
  /** Feature names; the order here does not matter, the feature list order does. */
  readonly primaryKey: ReadonlyArray<string>
  /** Name of the event-time feature (Hive type bigint, timestamp or date). */
  readonly eventTime?: string | undefined
  readonly features: ReadonlyArray<FeatureSpec>
  /** Default true. */
  readonly onlineEnabled?: boolean | undefined
}

/** Everything needed to write rows to a feature group (see FeatureGroupWriter). */
export interface ResolvedFeatureGroup {
  /** The project that OWNS the feature store (the `projectId` Kafka header). */
  readonly projectId: number
  readonly featureStoreId: number
  readonly featureGroupId: number
  readonly name: string
  readonly version: number
  readonly onlineTopicName: string
  readonly onlineEnabled: boolean
  /** In feature-list order (the order the key is built in). */
  readonly primaryKey: ReadonlyArray<string>
  readonly eventTime: string | undefined
  /** As the server reports them; `onlineType` is what string values are checked against before producing. */
  readonly features: ReadonlyArray<FeatureSpec>
  /** The latest Avro subject `<name>_<version>`; `id` is the `subjectId` Kafka header. */
  readonly subject: { readonly id: number; readonly version: number; readonly schema: string }
}

/** Kafka's `security.protocol` values, as the connector names them. */
export type KafkaSecurityProtocol = "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL"

/** TLS to the feature store's brokers, in the PEM form Node's TLS takes. */
export interface KafkaTls {
  /** CA certificates to trust; undefined: the public CAs (a BYOK connector without a truststore). */
  readonly ca: string | undefined
  /** Client certificate chain and key for mutual TLS; undefined when the cluster asks for none. */
  readonly cert: string | undefined
  readonly key: Redacted.Redacted | undefined
  /** The client key and chain as PKCS#12 instead (a BYOK keystore in that format), opened with `passphrase`. */
  readonly pfx?: { readonly data: Redacted.Redacted<Uint8Array>; readonly passphrase: Redacted.Redacted } | undefined
  /**
   * Whether the broker's certificate must name its host: Hopsworks' own brokers are not checked (the
   * server sends `sslEndpointIdentificationAlgorithm: ""`); a BYOK connector says `HTTPS` or `""`.
   */
  readonly verifyHostname: boolean
}

/** SASL credentials of a BYOK connector (from its `sasl.jaas.config`). */
export interface KafkaSasl {
  readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512"
  readonly username: string
  readonly password: Redacted.Redacted
}

export interface KafkaConnection {
  readonly bootstrapServers: ReadonlyArray<string>
  /** `SSL` for the managed Kafka; any of the four for BYOK. */
  readonly securityProtocol: KafkaSecurityProtocol
  /**
   * Managed Kafka: the project user's certificate (mutual TLS). BYOK over SSL or SASL_SSL: the
   * connector's truststore (and keystore) material. None for PLAINTEXT and SASL_PLAINTEXT.
   */
  readonly tls: Option.Option<KafkaTls>
  /** BYOK over SASL_PLAINTEXT or SASL_SSL. */
  readonly sasl: Option.Option<KafkaSasl>
  /** True when Hopsworks points at a "bring your own" Kafka cluster. */
  readonly externalKafka: boolean
  /**
   * Extra connector options, as configured on the connector, except those that carry secrets
   * (`sasl.jaas.config`, key material and passwords), which are read into `tls` and `sasl` only.
   */
  readonly options: ReadonlyArray<{ readonly name: string; readonly value: string }>
}

export interface MaterializationOptions {
  /**
   * Where the job starts reading the feature group's topic, per partition, instead of where its last
   * execution stopped: passed as `-initialCheckPointString <topic>,<partition>:<offset>,...` after the
   * job's default arguments, as hsfs does for a first materialization.
   */
  readonly initialCheckpoint?: ReadonlyArray<{ readonly partition: number; readonly offset: number }> | undefined
}

export interface MaterializationExecution {
  readonly jobName: string
  readonly executionId: number
  readonly state: string
}

export interface KafkaTopicSpec {
  readonly name: string
  readonly partitions: number
  readonly replicas: number
  /**
   * The topic's Avro schema in the project schema registry: `avroSchema` (JSON text) is registered as
   * a new version of `subject` first when given; otherwise `version` (default: latest) must exist.
   */
  readonly schema?: {
    readonly subject: string
    readonly avroSchema?: string | undefined
    readonly version?: number | undefined
  } | undefined
}
