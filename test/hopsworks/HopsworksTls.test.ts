import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Schedule } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { HopsworksConfig, type HopsworksSettings, hopsworksSettings } from "../../src/config/HopsworksConfig.ts"
import { describeConfigError } from "../../src/config/ServiceConfig.ts"
import { HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { makeTestCertificates } from "../support/TestCertificates.ts"

/**
 * A cluster whose certificate a private CA signed: trusted through HOPSWORKS_CA_FILE / HOPSWORKS_CA
 * with verification on, refused without it. Settings are parsed from variables and the HTTP client is
 * built from them as the service builds it.
 */

const certs = makeTestCertificates()

const parse = (env: Record<string, string>) => hopsworksSettings.parse(ConfigProvider.fromEnv({ env }))

const envFor = (hw: LocalHopsworks, extra: Record<string, string> = {}) => ({
  HOPSWORKS_HOST: "localhost", // the name the certificate is for
  HOPSWORKS_PORT: String(hw.port),
  HOPSWORKS_PROJECT: hw.project,
  HOPSWORKS_API_KEY: hw.apiKey,
  ...extra
})

/** The project's id, read over HTTPS with a client built from `settings` the way the service builds it. */
const projectIdWith = (settings: HopsworksSettings) =>
  HopsworksClient.use((client) => Effect.map(client.kafkaConnection(), (c) => c.bootstrapServers)).pipe(
    Effect.provide(
      HopsworksClient.layerWith({ maxAttempts: 2, retrySchedule: Schedule.spaced("10 millis") }).pipe(
        Layer.provide(Layer.mergeAll(
          Layer.succeed(HopsworksConfig, HopsworksConfig.of(Option.some(settings))),
          NodeHttpClient.layerUndiciOptions(HopsworksClient.httpClientOptions(settings))
        ))
      ),
      { local: true }
    )
  )

describe("HOPSWORKS_CA / HOPSWORKS_CA_FILE: a private CA, verification on", () => {
  const https = () => makeLocalHopsworks({ tls: { cert: certs.serverCert, key: certs.serverKey } })

  it.live("without the CA the certificate is refused (Unreachable, naming the certificate problem)", () =>
    Effect.gen(function*() {
      const hw = yield* https()
      const settings = Option.getOrThrow(yield* parse(envFor(hw)))
      const error = yield* Effect.flip(projectIdWith(settings))
      assert.strictEqual(error.reason._tag, "Unreachable")
      assert.match(error.message, /certificate/i)
      assert.strictEqual(hw.requests().length, 0, "nothing was sent to an untrusted server")
    }))

  it.live("HOPSWORKS_CA_FILE: the same server is trusted, verification staying on", () =>
    Effect.gen(function*() {
      const hw = yield* https()
      const settings = Option.getOrThrow(yield* parse(envFor(hw, { HOPSWORKS_CA_FILE: certs.caFile })))
      assert.isTrue(settings.hostnameVerification)
      assert.deepStrictEqual(yield* projectIdWith(settings), ["127.0.0.1:19092"])
    }))

  it.live("HOPSWORKS_CA as PEM text works the same", () =>
    Effect.gen(function*() {
      const hw = yield* https()
      const settings = Option.getOrThrow(yield* parse(envFor(hw, { HOPSWORKS_CA: certs.ca })))
      assert.deepStrictEqual(yield* projectIdWith(settings), ["127.0.0.1:19092"])
    }))

  it.live("HOPSWORKS_HOSTNAME_VERIFICATION=False (as hsfs spells it): parsed, and the certificate is not checked", () =>
    Effect.gen(function*() {
      const hw = yield* https()
      const settings = Option.getOrThrow(yield* parse(envFor(hw, { HOPSWORKS_HOSTNAME_VERIFICATION: "False" })))
      assert.isFalse(settings.hostnameVerification)
      assert.deepStrictEqual(yield* projectIdWith(settings), ["127.0.0.1:19092"])
    }))

  it.effect("a CA file that is missing or not PEM stops start-up naming the variable", () =>
    Effect.gen(function*() {
      const base = { HOPSWORKS_HOST: "h", HOPSWORKS_PROJECT: "p", HOPSWORKS_API_KEY: "k" }
      const missing = yield* Effect.flip(parse({ ...base, HOPSWORKS_CA_FILE: join(certs.dir, "nope.pem") }))
      assert.include(describeConfigError(missing), "HOPSWORKS_CA_FILE")
      assert.include(describeConfigError(missing), "cannot be read (ENOENT)")
      const notPem = join(certs.dir, "not.pem")
      writeFileSync(notPem, "hello")
      const wrong = yield* Effect.flip(parse({ ...base, HOPSWORKS_CA_FILE: notPem }))
      assert.include(describeConfigError(wrong), "holds no PEM certificate")
      const text = yield* Effect.flip(parse({ ...base, HOPSWORKS_CA: "hello" }))
      assert.include(describeConfigError(text), "HOPSWORKS_CA")
    }))

  it.effect("booleans in any case: TRUE, false, False", () =>
    Effect.gen(function*() {
      const base = { HOPSWORKS_HOST: "h", HOPSWORKS_PROJECT: "p", HOPSWORKS_API_KEY: "k" }
      for (const [text, value] of [["TRUE", true], ["false", false], ["False", false]] as const) {
        const s = Option.getOrThrow(yield* parse({ ...base, HOPSWORKS_HOSTNAME_VERIFICATION: text }))
        assert.strictEqual(s.hostnameVerification, value, text)
      }
    }))
})
