import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { readFileSync } from "node:fs"
import { booleanAnyCase, literalsAnyCase } from "./AnyCase.ts"

/** How to reach one Hopsworks project over REST (and, through it, its Kafka). */
export interface HopsworksSettings {
  /** Host name only, e.g. `eu-west.cloud.hopsworks.ai` (no scheme, no port). */
  readonly host: string
  readonly port: number
  /** `https` for real clusters; `http` only for local test servers. */
  readonly scheme: "https" | "http"
  /** Project name as shown in the Hopsworks UI (case as created). */
  readonly project: string
  readonly apiKey: Redacted.Redacted
  /**
   * When false the server's TLS certificate is not verified at all (the Python client's
   * `hostname_verification=False` means the same). Applied by the HTTP client layer the caller
   * builds, see `HopsworksClient.httpClientOptions`.
   */
  readonly hostnameVerification: boolean
  /**
   * PEM certificate(s) of the CA that signed the cluster's certificate, for a cluster with a private
   * CA: trusted instead of the public CAs, with verification on (HOPSWORKS_CA or HOPSWORKS_CA_FILE).
   */
  readonly trustedCa?: string | undefined
  /** Per HTTP request (each attempt), after which the attempt counts as a transient failure. */
  readonly requestTimeoutMs: number
  /** True: ask for the INTERNAL Kafka listener (running inside the Hopsworks cluster). */
  readonly kafkaInternal: boolean
}

const defaults = {
  port: 443,
  scheme: "https",
  hostnameVerification: true,
  requestTimeoutMs: 30_000,
  kafkaInternal: false
} as const

const pemCertificate = /-----BEGIN CERTIFICATE-----/

/** Why a CA file cannot be used (so the variable is named at start-up), or true. */
const caFileProblem = (path: string): true | string => {
  try {
    return pemCertificate.test(readFileSync(path, "utf8")) || `${path} holds no PEM certificate`
  } catch (error) {
    return `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`
  }
}

/** HOPSWORKS_CA (PEM text) or else HOPSWORKS_CA_FILE (a PEM file), read at start-up. */
const trustedCa: Config.Config<string | undefined> = Config.all({
  inline: Config.option(Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) => pemCertificate.test(s) || "expected PEM certificate text")),
    "HOPSWORKS_CA"
  )),
  file: Config.option(Config.schema(Schema.String.check(Schema.makeFilter(caFileProblem)), "HOPSWORKS_CA_FILE"))
}).pipe(
  Config.map(({ file, inline }) =>
    Option.isSome(inline) ? inline.value : Option.getOrUndefined(Option.map(file, (path) => readFileSync(path, "utf8")))
  )
)

/**
 * `HOPSWORKS_HOST` unset means "no Hopsworks configured" (None): the service then writes to a local
 * emulator. Once the host is set, project and API key are required (a missing one is an error,
 * never a silent None).
 */
export const hopsworksSettings: Config.Config<Option.Option<HopsworksSettings>> = Config.option(
  Config.String("HOPSWORKS_HOST").pipe(Config.map((s) => s.trim()))
).pipe(
  Config.flatMap((host) =>
    Option.isNone(host) || host.value.length === 0
      ? Config.succeed(Option.none<HopsworksSettings>())
      : Config.all({
        port: Config.Port("HOPSWORKS_PORT").pipe(Config.withDefault(defaults.port)),
        scheme: literalsAnyCase(["https", "http"], "HOPSWORKS_SCHEME").pipe(Config.withDefault(defaults.scheme)),
        project: Config.String("HOPSWORKS_PROJECT").pipe(Config.map((s) => s.trim())),
        apiKey: Config.Redacted("HOPSWORKS_API_KEY").pipe(
          Config.map((k) => Redacted.make(Redacted.value(k).trim(), { label: "HOPSWORKS_API_KEY" }))
        ),
        hostnameVerification: booleanAnyCase("HOPSWORKS_HOSTNAME_VERIFICATION").pipe(
          Config.withDefault(defaults.hostnameVerification)
        ),
        trustedCa,
        requestTimeoutMs: Config.Int("HOPSWORKS_REQUEST_TIMEOUT_MS").pipe(
          Config.withDefault(defaults.requestTimeoutMs)
        ),
        kafkaInternal: booleanAnyCase("HOPSWORKS_KAFKA_INTERNAL").pipe(Config.withDefault(defaults.kafkaInternal))
      }).pipe(Config.map((rest): Option.Option<HopsworksSettings> => Option.some({ host: host.value, ...rest })))
  )
)

/** None when Hopsworks is not configured (the emulator is used instead). */
export class HopsworksConfig extends Context.Service<HopsworksConfig, Option.Option<HopsworksSettings>>()(
  "tributary/config/HopsworksConfig"
) {
  static readonly layer = Layer.effect(HopsworksConfig, Effect.map(hopsworksSettings, HopsworksConfig.of))

  /** For tests: a configured Hopsworks (e.g. the local test server over http). */
  static readonly layerWith = (
    settings: Partial<Omit<HopsworksSettings, "host" | "project" | "apiKey">> & {
      readonly host: string
      readonly project: string
      readonly apiKey: string | Redacted.Redacted
    }
  ) =>
    Layer.succeed(
      HopsworksConfig,
      HopsworksConfig.of(Option.some({
        ...defaults,
        ...settings,
        apiKey: typeof settings.apiKey === "string"
          ? Redacted.make(settings.apiKey, { label: "HOPSWORKS_API_KEY" })
          : settings.apiKey
      }))
    )

  /** For tests: Hopsworks not configured. */
  static readonly layerNone = Layer.succeed(HopsworksConfig, HopsworksConfig.of(Option.none()))
}
