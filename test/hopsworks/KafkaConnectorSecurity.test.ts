import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Result } from "effect"
import { createPrivateKey } from "node:crypto"
import { inspect } from "node:util"
import { KafkaConfig } from "../../src/config/KafkaConfig.ts"
import { describeConnection, featureStoreKafkaSettings } from "../../src/hopsworks/FeatureStore.ts"
import { HopsworksClient, type KafkaConnection } from "../../src/hopsworks/HopsworksClient.ts"
import { readJavaKeyStore } from "../../src/hopsworks/internal/JavaKeyStore.ts"
import { parseJaasConfig, readStore, saslFromOptions } from "../../src/hopsworks/internal/KafkaSecurity.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { connectionOptions } from "../../src/kafka/PlatformaticConsumerApi.ts"
import { accessCredentials, type LocalKafka, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { makeJavaStores, makeTestCertificates } from "../support/TestCertificates.ts"

/**
 * A "bring your own Kafka" connector's SSL and SASL settings, and Hopsworks' own Kafka's credentials,
 * become the Kafka client's options: JAAS parsed, JKS stores (as the connector's project files)
 * read into PEM, passwords Redacted and in no rendering of the connection or its errors.
 */

const certs = makeTestCertificates()
const storePassword = "St0re-Secret-41"
const stores = makeJavaStores(certs, storePassword)
const saslPassword = "Sasl-Secret-\"quoted\"-99"
const scramJaas = "org.apache.kafka.common.security.scram.ScramLoginModule required " +
  "username=\"tributary\" password=\"Sasl-Secret-\\\"quoted\\\"-99\";"

const sameKey = (a: string, b: string) =>
  assert.strictEqual(
    createPrivateKey(a).export({ type: "pkcs8", format: "pem" }),
    createPrivateKey(b).export({ type: "pkcs8", format: "pem" })
  )

const connectionVia = (kafka: LocalKafka) =>
  Effect.gen(function*() {
    const hw = yield* makeLocalHopsworks({ kafka })
    const connection = yield* HopsworksClient.use((client) => client.kafkaConnection()).pipe(
      Effect.provide(
        HopsworksClient.layer.pipe(Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))),
        {
          local: true
        }
      )
    )
    return { hw, connection }
  })

const byok = (connector: Record<string, unknown>, files: Record<string, Uint8Array> = {}): LocalKafka => ({
  _tag: "Byok",
  connector: { id: 12, bootstrapServers: "kafka-1.example.com:9093,kafka-2.example.com:9093", ...connector },
  files
})

const truststorePath = "/Projects/demo/Resources/kafka.truststore.jks"
const keystorePath = "hdfs:///Projects/demo/Resources/kafka.keystore.jks"

/** Every way the connection could end up in a log: its password must be in none of them. */
const assertNoSecret = (value: unknown, ...secrets: Array<string>) => {
  for (const text of [String(value), JSON.stringify(value), inspect(value, { depth: 10 })]) {
    for (const secret of secrets) assert.notInclude(text, secret)
  }
}

const clientOptions = (connection: KafkaConnection) =>
  Effect.gen(function*() {
    const settings = featureStoreKafkaSettings(connection, "platformatic")
    const client = yield* KafkaClient.use(Effect.succeed).pipe(
      Effect.provide(KafkaClient.layer.pipe(Layer.provide(KafkaConfig.layerWith(settings))), { local: true })
    )
    const config = yield* KafkaConfig.use(Effect.succeed).pipe(Effect.provide(KafkaConfig.layerWith(settings)))
    return { kafkajs: { ssl: client.ssl, sasl: client.sasl }, platformatic: connectionOptions(client, config) }
  })

describe("sasl.jaas.config", () => {
  it("PlainLoginModule with double quotes; ScramLoginModule with single quotes, escapes and odd spacing", () => {
    const plain = parseJaasConfig(
      "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"a b;c\";"
    )
    assert.deepStrictEqual(Result.getOrThrow(plain), {
      loginModule: "org.apache.kafka.common.security.plain.PlainLoginModule",
      flag: "required",
      options: { username: "alice", password: "a b;c" }
    })
    const scram = parseJaasConfig(
      "  org.apache.kafka.common.security.scram.ScramLoginModule   required\n username = 'bob'  password='it\\'s'  ;"
    )
    assert.deepStrictEqual(Result.getOrThrow(scram).options, { username: "bob", password: "it's" })
    assert.deepStrictEqual(Result.getOrThrow(parseJaasConfig(scramJaas)).options["password"], saslPassword)
  })

  it("malformed configurations are refused with a reason, never echoing a value", () => {
    for (
      const bad of [
        "",
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password;",
        "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"S3cretValue;"
      ]
    ) {
      const result = parseJaasConfig(bad)
      assert.isTrue(Result.isFailure(result), bad)
      if (Result.isFailure(result)) assert.notInclude(result.failure, "S3cretValue")
    }
  })

  it("mechanism: sasl.mechanism when given, else from the login module (SCRAM: SHA-256, as hsfs)", () => {
    const options = (entries: Record<string, string>) => new Map(Object.entries(entries))
    const scram512 = Result.getOrThrow(
      saslFromOptions(options({ "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": scramJaas }))
    )
    assert.strictEqual(scram512.mechanism, "scram-sha-512")
    assert.strictEqual(scram512.username, "tributary")
    assert.strictEqual(Redacted.value(scram512.password), saslPassword)
    assertNoSecret(scram512, saslPassword)
    assert.strictEqual(
      Result.getOrThrow(saslFromOptions(options({ "sasl.jaas.config": scramJaas }))).mechanism,
      "scram-sha-256"
    )
    const plain = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";"
    assert.strictEqual(
      Result.getOrThrow(saslFromOptions(options({ "sasl.jaas.config": plain, "sasl.mechanism": "PLAIN" }))).mechanism,
      "plain"
    )
    const refused = [
      options({}),
      options({ "sasl.jaas.config": plain, "sasl.mechanism": "SCRAM-SHA-512" }),
      options({
        "sasl.jaas.config":
          "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientSecret=\"p\";"
      }),
      options({
        "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\";"
      })
    ]
    for (const o of refused) {
      const result = saslFromOptions(o)
      assert.isTrue(Result.isFailure(result))
      if (Result.isFailure(result)) assert.notInclude(result.failure, "\"p\"")
    }
  })
})

describe("key and trust stores", () => {
  it("JKS truststore and keystore (made by keytool) read into the PEM openssl wrote", () => {
    const trust = Result.getOrThrow(readJavaKeyStore(stores.truststoreJks, storePassword))
    assert.deepStrictEqual(trust.trusted, [certs.ca])
    const keys = Result.getOrThrow(readJavaKeyStore(stores.keystoreJks, storePassword))
    assert.deepStrictEqual(keys.keys[0]!.chain, [certs.clientCert, certs.ca])
    sameKey(keys.keys[0]!.key, certs.clientKey)
    // a truststore may be read without its password (no integrity check), as Java allows
    assert.deepStrictEqual(Result.getOrThrow(readJavaKeyStore(stores.truststoreJks, undefined)).trusted, [certs.ca])
  })

  it("a wrong store or key password, a truncated file, PKCS#12 and PEM", () => {
    const failure = (result: Result.Result<unknown, string>) => {
      assert.isTrue(Result.isFailure(result))
      return Result.isFailure(result) ? result.failure : ""
    }
    assert.include(failure(readStore("keystore", stores.keystoreJks, "wrong", "wrong")), "password does not match")
    assert.include(failure(readStore("keystore", stores.keystoreJks, undefined, "wrong")), "key password")
    assert.include(failure(readStore("truststore", stores.truststoreJks.subarray(0, 60), undefined, undefined)), "ends")
    assert.include(failure(readStore("truststore", stores.truststorePkcs12, storePassword, undefined)), "PKCS#12")
    // a PKCS#12 keystore is handed to Node as it is (pfx), once it opens with its password
    const pfx = Result.getOrThrow(readStore("keystore", stores.keystorePkcs12, storePassword, undefined)).pfx!
    assert.deepStrictEqual(Buffer.from(Redacted.value(pfx.data)), stores.keystorePkcs12)
    assert.include(failure(readStore("keystore", stores.keystorePkcs12, "wrong", undefined)), "cannot be opened")
    for (const text of [failure(readStore("keystore", stores.keystoreJks, "wrong", "wrong"))]) {
      assert.notInclude(text, storePassword)
    }
    // PEM (Kafka's ssl.keystore.type=PEM): an encrypted key is opened with ssl.key.password
    const encrypted = createPrivateKey(certs.clientKey).export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "key-pass"
    }).toString()
    const pem = Result.getOrThrow(
      readStore("keystore", Buffer.from(encrypted + certs.clientCert), undefined, "key-pass")
    )
    assert.deepStrictEqual(pem.certificates, [certs.clientCert])
    sameKey(Redacted.value(pem.key!), certs.clientKey)
  })
})

describe("kafkaConnection: the connector Hopsworks hands out, as client options", () => {
  it.live("BYOK SASL_SSL: SCRAM-SHA-512 from the JAAS config, the JKS truststore downloaded from the project", () =>
    Effect.gen(function*() {
      const { connection, hw } = yield* connectionVia(byok({
        securityProtocol: "SASL_SSL",
        sslTruststoreLocation: truststorePath,
        sslTruststorePassword: storePassword,
        sslEndpointIdentificationAlgorithm: "HTTPS",
        options: [
          { name: "sasl.mechanism", value: "SCRAM-SHA-512" },
          { name: "sasl.jaas.config", value: scramJaas },
          { name: "acks", value: "all" }
        ]
      }, { [truststorePath]: stores.truststoreJks }))
      assert.deepStrictEqual(connection.bootstrapServers, ["kafka-1.example.com:9093", "kafka-2.example.com:9093"])
      assert.strictEqual(connection.securityProtocol, "SASL_SSL")
      const tls = Option.getOrThrow(connection.tls)
      assert.strictEqual(tls.ca, certs.ca)
      assert.isUndefined(tls.cert)
      assert.isTrue(tls.verifyHostname)
      const sasl = Option.getOrThrow(connection.sasl)
      assert.deepStrictEqual([sasl.mechanism, sasl.username], ["scram-sha-512", "tributary"])
      // the JAAS text (with the password) is not passed on as an option
      assert.deepStrictEqual(connection.options, [{ name: "sasl.mechanism", value: "SCRAM-SHA-512" }, {
        name: "acks",
        value: "all"
      }])
      const download = hw.requests().find((r) => r.path.includes("/dataset/download/with_auth/"))
      assert.strictEqual(download?.path, `/project/119/dataset/download/with_auth${truststorePath}`)
      assert.strictEqual(download?.query.get("type"), "DATASET")
      assertNoSecret(connection, saslPassword, storePassword)
      assertNoSecret(describeConnection(connection), saslPassword)
      assert.include(describeConnection(connection), "SASL scram-sha-512 as tributary")

      const { kafkajs, platformatic } = yield* clientOptions(connection)
      assert.deepStrictEqual(kafkajs.sasl, {
        mechanism: "scram-sha-512",
        username: "tributary",
        password: saslPassword
      })
      assert.deepStrictEqual(kafkajs.ssl, { rejectUnauthorized: true, ca: [certs.ca] })
      assert.deepStrictEqual(platformatic.sasl, {
        mechanism: "SCRAM-SHA-512",
        username: "tributary",
        password: saslPassword
      })
      assert.deepStrictEqual(platformatic.tls, { rejectUnauthorized: true, ca: [certs.ca] })
    }))

  it.live("BYOK SSL with a client keystore (mutual TLS), no host name check; SASL_PLAINTEXT with PLAIN", () =>
    Effect.gen(function*() {
      const { connection } = yield* connectionVia(byok({
        securityProtocol: "ssl",
        sslTruststoreLocation: truststorePath,
        sslTruststorePassword: storePassword,
        sslKeystoreLocation: keystorePath,
        sslKeystorePassword: storePassword,
        sslKeyPassword: storePassword,
        sslEndpointIdentificationAlgorithm: ""
      }, { [truststorePath]: stores.truststoreJks, [keystorePath]: stores.keystoreJks }))
      const tls = Option.getOrThrow(connection.tls)
      assert.strictEqual(tls.cert, certs.clientCert + certs.ca)
      sameKey(Redacted.value(tls.key!), certs.clientKey)
      assert.isFalse(tls.verifyHostname)
      assert.isTrue(Option.isNone(connection.sasl))
      assertNoSecret(connection, storePassword, certs.clientKey.split("\n")[1]!)
      const { kafkajs, platformatic } = yield* clientOptions(connection)
      assert.strictEqual((kafkajs.ssl as { cert: string }).cert, certs.clientCert + certs.ca)
      assert.isFunction((kafkajs.ssl as { checkServerIdentity: unknown }).checkServerIdentity)
      assert.strictEqual(platformatic.tls, kafkajs.ssl)
      assert.isUndefined(kafkajs.sasl)

      // The same keystore as PKCS#12 (keytool's default): Node's pfx, in both clients' options.
      const p12Path = "/Projects/demo/Resources/kafka.keystore.p12"
      const viaPkcs12 = yield* connectionVia(byok({
        securityProtocol: "SSL",
        sslTruststoreLocation: truststorePath,
        sslTruststorePassword: storePassword,
        sslKeystoreLocation: p12Path,
        sslKeystorePassword: storePassword
      }, { [truststorePath]: stores.truststoreJks, [p12Path]: stores.keystorePkcs12 }))
      assertNoSecret(viaPkcs12.connection, storePassword)
      const p12Options = yield* clientOptions(viaPkcs12.connection)
      const pfx = (p12Options.kafkajs.ssl as { pfx: Array<{ buf: Buffer; passphrase: string }> }).pfx
      assert.deepStrictEqual(pfx, [{ buf: stores.keystorePkcs12, passphrase: storePassword }])
      assert.isUndefined((p12Options.kafkajs.ssl as { cert?: string }).cert)
      assert.strictEqual(p12Options.platformatic.tls, p12Options.kafkajs.ssl)
      assert.include(describeConnection(viaPkcs12.connection), "client certificate")

      const plain = yield* connectionVia(byok({
        securityProtocol: "SASL_PLAINTEXT",
        options: [{
          name: "sasl.jaas.config",
          value: "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"pw-1\";"
        }]
      }))
      assert.isTrue(Option.isNone(plain.connection.tls))
      const options = yield* clientOptions(plain.connection)
      assert.deepStrictEqual(options.platformatic.sasl, { mechanism: "PLAIN", username: "u", password: "pw-1" })
      assert.isUndefined(options.kafkajs.ssl)
    }))

  it.live("Hopsworks' own Kafka: SSL with the project user's certificate from /credentials, CA chain trusted", () =>
    Effect.gen(function*() {
      const { connection, hw } = yield* connectionVia({
        _tag: "Managed",
        bootstrapServers: "broker.kafka.service.consul:9091",
        credentials: accessCredentials(certs, stores)
      })
      assert.isFalse(connection.externalKafka)
      assert.strictEqual(connection.securityProtocol, "SSL")
      const tls = Option.getOrThrow(connection.tls)
      assert.strictEqual(tls.cert, certs.clientCert + certs.ca)
      assert.strictEqual(tls.ca, certs.ca + certs.ca)
      sameKey(Redacted.value(tls.key!), certs.clientKey)
      assert.isFalse(tls.verifyHostname)
      assert.isTrue(hw.requests().some((r) => r.path === "/project/119/credentials"))
      assertNoSecret(connection, certs.clientKey.split("\n")[1]!)
    }))

  it.live("unusable connectors stop with a reason: unknown protocol, SASL without JAAS, a store not there, no scope", () =>
    Effect.gen(function*() {
      const reasonOf = (kafka: LocalKafka) =>
        Effect.flip(connectionVia(kafka)).pipe(Effect.map((e) => [e.reason._tag, e.message] as const))
      const [tag1, message1] = yield* reasonOf(byok({ securityProtocol: "SASL_KERBEROS" }))
      assert.strictEqual(tag1, "KafkaConnectorUnusable")
      assert.include(message1, "SASL_KERBEROS")
      const [tag2, message2] = yield* reasonOf(byok({ securityProtocol: "SASL_SSL" }))
      assert.strictEqual(tag2, "KafkaConnectorUnusable")
      assert.include(message2, "sasl.jaas.config")
      const [tag3] = yield* reasonOf(byok({ securityProtocol: "SSL", sslTruststoreLocation: "/Projects/demo/x.jks" }))
      assert.strictEqual(tag3, "RequestRejected")
      const [tag4, message4] = yield* reasonOf(
        byok({ securityProtocol: "SSL", sslTruststoreLocation: truststorePath, sslTruststorePassword: "wrong" }, {
          [truststorePath]: stores.truststoreJks
        })
      )
      assert.strictEqual(tag4, "KafkaConnectorUnusable")
      assert.include(message4, "truststore (JKS) cannot be read")

      const hw = yield* makeLocalHopsworks({
        kafka: byok({ securityProtocol: "SSL", sslTruststoreLocation: truststorePath }, {
          [truststorePath]: stores.truststoreJks
        })
      })
      hw.forbidScope("DATASET_VIEW")
      const error = yield* HopsworksClient.use((client) => client.kafkaConnection()).pipe(
        Effect.provide(
          HopsworksClient.layer.pipe(Layer.provide(Layer.mergeAll(hw.configLayer(), NodeHttpClient.layerUndici))),
          {
            local: true
          }
        ),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "MissingScope")
      assert.include(error.message, "DATASET_VIEW")
    }))
})
