import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { Kafka, type KafkaConfig as KafkaJsConfig, logLevel } from "kafkajs"
import { afterAll, beforeAll } from "vitest"
import { KafkaConfig, type KafkaSettings } from "../../src/config/KafkaConfig.ts"
import { featureStoreKafkaSettings } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import type { KafkaError } from "../../src/kafka/KafkaError.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { readTopic, subjectDecoder } from "../support/FeatureGroupTopic.ts"
import { accessCredentials, type LocalKafka, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { type SecureBroker, startSecureBroker } from "../support/SecureBroker.ts"
import { startService } from "../support/ServiceProcess.ts"
import { makeJavaStores, makeTestCertificates } from "../support/TestCertificates.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"
import {
  produceRecords,
  simulateTransactions,
  transactionsServiceEnv,
  validTransactions
} from "../support/TransactionsFixture.ts"

/**
 * The feature store's Kafka as real clusters secure it, with the real service process: a broker of this
 * file's own (project jars, fresh data under .it/kafka-secure) with a SASL_SSL listener (SCRAM-SHA-512
 * user made by the broker's own format tool) and an SSL listener that requires a client certificate.
 * - "bring your own Kafka": the connector names the SASL_SSL listener, its JAAS config and a JKS
 *   truststore in the project's files;
 * - Hopsworks' own Kafka: the synthesized SSL connector and the project user's certificate from
 *   `/credentials`.
 * `setup feature-group` and `run transactions` write through it; the rows are read back over the same
 * listener and equal the reference; a client without the right credentials is refused.
 */

const certs = makeTestCertificates()
const storePassword = "Trust-St0re-Pass"
const stores = makeJavaStores(certs, storePassword)
const user = { name: "tributary-writer", password: "Scram-Secret-7c1f" }
const truststorePath = "/Projects/secure/Resources/kafka.truststore.jks"
let broker: SecureBroker

beforeAll(async () => {
  broker = await startSecureBroker("kafka-secure", certs, user)
}, 120_000)
afterAll(() => broker?.stop(), 60_000)

const pem = (text: string) => Option.some({ _tag: "Inline" as const, pem: Redacted.make(text) })

/** A kafkajs reader and admin on one of the secure listeners, with the given credentials. */
const secureLayer = (brokers: string, security: Pick<KafkaSettings, "ssl" | "sasl">) =>
  Layer.fresh(
    Layer.mergeAll(KafkaSource.layer, KafkaAdmin.layer).pipe(
      Layer.provideMerge(KafkaClient.layer),
      Layer.provideMerge(KafkaConfig.layerWith({ brokers: [brokers], client: "kafkajs", ...security }))
    )
  )

const trustOnly = { ca: pem(certs.ca), cert: Option.none(), key: Option.none(), rejectUnauthorized: true }

/** Runs `node dist/main.js ...args` to its end. */
const runCommand = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.promise(async () => {
    const child = startService(args, env)
    return { code: await child.exited, output: child.output() }
  })

/** Connecting with raw kafkajs (no retries): the error, or undefined when the broker let it in. */
const connectError = (config: Omit<KafkaJsConfig, "clientId" | "logLevel">) =>
  Effect.promise(async () => {
    const admin = new Kafka({
      ...config,
      clientId: "refused-client",
      logLevel: logLevel.NOTHING,
      connectionTimeout: 5_000,
      retry: { retries: 0 }
    }).admin()
    try {
      await admin.connect()
      await admin.listTopics()
      return undefined
    } catch (error) {
      return error as Error
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  })

/**
 * `setup feature-group transactions` then `run transactions` (the real CLI) with the stand-in handing
 * out `kafka`; returns the rows read back from the feature group's topic through `reader`, decoded
 * with the subject schema, and everything the processes printed.
 */
const writeThrough = (
  kafka: LocalKafka,
  reader: Layer.Layer<KafkaSource | KafkaAdmin, KafkaError>,
  extraEnv: Record<string, string>
) =>
  Effect.gen(function*() {
    const hw = yield* makeLocalHopsworks({
      kafkaBootstrap: broker.plaintext,
      project: uniqueName("secure").replace("-", "_"),
      kafka
    })
    const topic = uniqueName("secure-transactions")
    const input = simulateTransactions(400, 0.05, 31)
    const valid = validTransactions(input)
    // The service's source: the shared broker, as in production.
    yield* Effect.gen(function*() {
      yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 2 }])
      yield* produceRecords(topic, input)
    }).pipe(Effect.provide(realKafkaLayer()))
    const env = transactionsServiceEnv(kafkaBootstrap(), hw, topic, uniqueName("secure-group"), {
      LOG_LEVEL: "Info",
      ...extraEnv
    })
    const setup = yield* runCommand(["setup", "feature-group", "transactions"], env)
    assert.strictEqual(setup.code, 0, setup.output)

    const service = startService(["run", "transactions"], env)
    const records = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= valid.length).pipe(
      Effect.provide(reader),
      Effect.ensuring(Effect.promise(async () => {
        service.child.kill("SIGTERM")
        await service.exited
      }))
    )
    const decode = subjectDecoder(hw.featureGroups()[0]!.subject.schema)
    const byId = (a: { transaction_id: unknown }, b: { transaction_id: unknown }) =>
      String(a.transaction_id).localeCompare(String(b.transaction_id))
    return {
      rows: records.map((r) => decode(r.value!) as { transaction_id: unknown }).toSorted(byId),
      reference: valid.map((t) => ({ ...t })).toSorted(byId),
      output: setup.output + service.output()
    }
  }).pipe(Effect.scoped)

describe("the feature store's Kafka secured as on a real cluster (own broker: SASL_SSL and mutual TLS)", () => {
  it.live(
    "bring your own Kafka over SASL_SSL (SCRAM-SHA-512, JKS truststore): rows written; a wrong password is refused",
    () =>
      Effect.gen(function*() {
        const kafka: LocalKafka = {
          _tag: "Byok",
          connector: {
            id: 21,
            bootstrapServers: broker.saslSsl,
            securityProtocol: "SASL_SSL",
            sslTruststoreLocation: truststorePath,
            sslTruststorePassword: storePassword,
            sslEndpointIdentificationAlgorithm: "HTTPS",
            options: [
              { name: "sasl.mechanism", value: "SCRAM-SHA-512" },
              {
                name: "sasl.jaas.config",
                value: "org.apache.kafka.common.security.scram.ScramLoginModule required " +
                  `username="${user.name}" password="${user.password}";`
              }
            ]
          },
          files: { [truststorePath]: stores.truststoreJks }
        }
        const reader = secureLayer(broker.saslSsl, {
          ssl: Option.some({ ...trustOnly, verifyHostname: true }),
          sasl: Option.some({ mechanism: "scram-sha-512", username: user.name, password: Redacted.make(user.password) })
        })
        const { output, reference, rows } = yield* writeThrough(kafka, reader, {})
        assert.strictEqual(rows.length, reference.length, "one row per valid transaction")
        assert.deepStrictEqual(rows, reference)
        assert.include(
          output,
          `SASL_SSL: your own Kafka, SASL scram-sha-512 as ${user.name}, TLS trusting the given CA`
        )
        assert.notInclude(output, user.password)
        assert.notInclude(output, storePassword)

        const wrongPassword = yield* connectError({
          brokers: [broker.saslSsl],
          ssl: { ca: [certs.ca] },
          sasl: { mechanism: "scram-sha-512", username: user.name, password: "not-the-password" }
        })
        assert.isDefined(wrongPassword, "the broker let a wrong password in")
        assert.match(String(wrongPassword), /SASL SCRAM SHA512 authentication failed|Authentication failed/)
        const noSasl = yield* connectError({ brokers: [broker.saslSsl], ssl: { ca: [certs.ca] } })
        assert.isDefined(noSasl, "the broker let a client without SASL in")
      }),
    120_000
  )

  it.live(
    "Hopsworks' own Kafka over mutual TLS (project user's certificate): rows written; no certificate is refused",
    () =>
      Effect.gen(function*() {
        const kafka: LocalKafka = {
          _tag: "Managed",
          bootstrapServers: broker.mutualTls,
          credentials: accessCredentials(certs, stores)
        }
        const reader = secureLayer(broker.mutualTls, {
          ssl: Option.some({
            ...trustOnly,
            cert: pem(certs.clientCert),
            key: pem(certs.clientKey),
            verifyHostname: false
          }),
          sasl: Option.none()
        })
        // The kafkajs producer here (platformatic in the BYOK case): both clients' TLS options used for real.
        const { output, reference, rows } = yield* writeThrough(kafka, reader, { KAFKA_PRODUCER_CLIENT: "kafkajs" })
        assert.strictEqual(rows.length, reference.length, "one row per valid transaction")
        assert.deepStrictEqual(rows, reference)
        assert.include(output, "(SSL: Hopsworks' Kafka, TLS trusting the given CA, client certificate")
        assert.notInclude(output, certs.clientKey.split("\n")[1]!)

        const noCertificate = yield* connectError({ brokers: [broker.mutualTls], ssl: { ca: [certs.ca] } })
        assert.isDefined(noCertificate, "the broker let a client without a certificate in")
        assert.match(String(noCertificate), /certificate/i)
      }),
    120_000
  )

  it.live(
    "a BYOK keystore in PKCS#12 reaches the client-certificate listener as Node's pfx",
    () =>
      Effect.gen(function*() {
        const p12Path = "/Projects/secure/Resources/kafka.keystore.p12"
        const hw = yield* makeLocalHopsworks({
          kafka: {
            _tag: "Byok",
            connector: {
              bootstrapServers: broker.mutualTls,
              securityProtocol: "SSL",
              sslTruststoreLocation: truststorePath,
              sslTruststorePassword: storePassword,
              sslKeystoreLocation: p12Path,
              sslKeystorePassword: storePassword,
              sslEndpointIdentificationAlgorithm: "HTTPS"
            },
            files: { [truststorePath]: stores.truststoreJks, [p12Path]: stores.keystorePkcs12 }
          }
        })
        // The service's own path: connector -> settings -> KafkaClient, then a topic made and read back.
        const connection = yield* HopsworksClient.use((client) => client.kafkaConnection()).pipe(
          Effect.provide(
            HopsworksClient.layer.pipe(Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))),
            { local: true }
          )
        )
        const topic = uniqueName("pfx-check")
        const partitions = yield* Effect.gen(function*() {
          const admin = yield* KafkaAdmin
          yield* admin.createTopics([{ topic, partitions: 2 }])
          return yield* admin.topicOffsets(topic)
        }).pipe(
          Effect.provide(
            Layer.fresh(KafkaAdmin.layer.pipe(
              Layer.provideMerge(KafkaClient.layer),
              Layer.provide(KafkaConfig.layerWith(featureStoreKafkaSettings(connection, "kafkajs")))
            )),
            { local: true }
          )
        )
        assert.strictEqual(partitions.length, 2)
      }).pipe(Effect.scoped),
    60_000
  )
})
