import { Context, Effect, Layer, Option, Redacted } from "effect"
import { Kafka, type KafkaConfig as KafkaJsConfig, logLevel, type SASLOptions } from "kafkajs"
import { readFile } from "node:fs/promises"
import { KafkaConfig, type Pem } from "../config/KafkaConfig.ts"
import { kafkajsLogCreator } from "../observability/ClientLogs.ts"
import { transientBackoff } from "../shared/Retry.ts"
import { type KafkaError, kafkaError } from "./KafkaError.ts"

/**
 * The kafkajs client, built from configuration. Producers, consumers and admins are created from it by the
 * source, sink and admin layers, each scoped to its own lifetime.
 */
export class KafkaClient extends Context.Service<KafkaClient, {
  readonly kafka: Kafka
  readonly brokers: ReadonlyArray<string>
  /** The resolved TLS and SASL options (PEM files read), for a second client on the same cluster. */
  readonly ssl: KafkaJsConfig["ssl"]
  readonly sasl: SASLOptions | undefined
}>()("tributary/kafka/KafkaClient") {
  static readonly layer = Layer.effect(
    KafkaClient,
    Effect.gen(function*() {
      const settings = yield* KafkaConfig
      if (Option.isNone(settings.brokers)) {
        return yield* Effect.die(
          new Error("KafkaClient needs KAFKA_BOOTSTRAP_SERVERS; use the in-memory broker otherwise")
        )
      }
      const brokers = settings.brokers.value
      const ssl = yield* Option.match(settings.ssl, {
        onNone: () => Effect.succeed<KafkaJsConfig["ssl"]>(undefined),
        onSome: (tls) =>
          Effect.gen(function*() {
            const ca = yield* readPem(tls.ca)
            const cert = yield* readPem(tls.cert)
            const key = yield* readPem(tls.key)
            return {
              rejectUnauthorized: tls.rejectUnauthorized,
              ...(ca === undefined ? {} : { ca: [ca] }),
              ...(cert === undefined ? {} : { cert }),
              ...(key === undefined ? {} : { key }),
              ...(tls.pfx === undefined ? {} : {
                pfx: [{
                  buf: Buffer.from(Redacted.value(tls.pfx.data)),
                  passphrase: Redacted.value(tls.pfx.passphrase)
                }]
              }),
              // Hopsworks-managed brokers present certificates without matching host names.
              ...(tls.verifyHostname ? {} : { checkServerIdentity: () => undefined })
            }
          })
      })
      const sasl: SASLOptions | undefined = Option.match(settings.sasl, {
        onNone: () => undefined,
        onSome: ({ mechanism, password, username }) => ({ mechanism, username, password: Redacted.value(password) })
      }) as SASLOptions | undefined
      const context = yield* Effect.context<never>()
      const kafka = new Kafka({
        clientId: settings.clientId,
        brokers: [...brokers],
        connectionTimeout: settings.connectionTimeoutMs,
        requestTimeout: settings.requestTimeoutMs,
        ...(ssl === undefined ? {} : { ssl }),
        ...(sasl === undefined ? {} : { sasl }),
        retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
        logLevel: logLevel.WARN,
        // kafkajs logs go through Effect's logger (same format and annotations); errors it retries itself at debug.
        logCreator: kafkajsLogCreator(context)
      })
      return KafkaClient.of({ kafka, brokers, ssl, sasl })
    })
  )

  /** Waits until the cluster answers, retrying with backoff: a broker still starting is not an error yet. */
  static readonly awaitReady = Effect.fn("KafkaClient.awaitReady")(function*(attempts = 30) {
    const { brokers, kafka } = yield* KafkaClient
    const admin = kafka.admin()
    yield* Effect.tryPromise({
      try: async () => {
        await admin.connect()
        try {
          await admin.describeCluster()
        } finally {
          await admin.disconnect()
        }
      },
      catch: kafkaError(`connect to ${brokers.join(",")}`)
    }).pipe(
      Effect.tapError((e) => Effect.logWarning(`Kafka not reachable yet: ${e.message}`)),
      Effect.retry({ schedule: transientBackoff, times: attempts })
    )
  })
}

const readPem = (pem: Option.Option<Pem>): Effect.Effect<string | undefined, KafkaError> =>
  Option.match(pem, {
    onNone: () => Effect.succeed(undefined),
    onSome: (p) =>
      p._tag === "Inline"
        ? Effect.succeed(Redacted.value(p.pem))
        : Effect.tryPromise({ try: () => readFile(p.path, "utf8"), catch: kafkaError(`read ${p.path}`) })
  })
