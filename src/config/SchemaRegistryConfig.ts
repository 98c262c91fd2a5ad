import { Config, Option, Redacted, Schema } from "effect"
import { readFileSync } from "node:fs"
import { literalsAnyCase } from "./AnyCase.ts"

/** How to reach a Confluent-compatible schema registry (Confluent, Apicurio's ccompat API, Karapace...). */
export interface SchemaRegistrySettings {
  /** The API root, e.g. `https://registry:8081` or `http://host/apis/ccompat/v7`, with no credentials in it. */
  readonly url: string
  /** Basic auth, when the registry asks for it. */
  readonly credentials?: { readonly username: string; readonly password: Redacted.Redacted } | undefined
  /** PEM certificate(s) of a private CA to verify the registry's certificate with (SCHEMA_REGISTRY_CA_FILE). */
  readonly trustedCa?: string | undefined
  /** Per request attempt; a slower answer counts as an outage and is retried. */
  readonly requestTimeoutMs: number
}

export type InputFormat = "json" | "confluent-avro"

/** What a pipeline's source records hold: JSON, or Avro in the Confluent wire format with the registry to ask. */
export type InputSettings =
  | { readonly format: "json" }
  | { readonly format: "confluent-avro"; readonly registry: SchemaRegistrySettings }

const registryUrl = Config.schema(
  Schema.String.check(Schema.makeFilter((s: string) => {
    try {
      const url = new URL(s.trim())
      if (url.protocol !== "http:" && url.protocol !== "https:") return "expected an http:// or https:// URL"
      // Credentials in the URL would end up in logs and errors: they have variables of their own.
      if (url.username !== "" || url.password !== "") {
        return "put credentials in SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD, not in the URL"
      }
      return true
    } catch {
      return "expected a URL such as http://localhost:8081"
    }
  })),
  "SCHEMA_REGISTRY_URL"
).pipe(Config.map((s) => s.trim().replace(/\/+$/, "")))

/** Why a CA file cannot be used (so start-up names the variable), or true. */
const caFileProblem = (path: string): true | string => {
  try {
    return /-----BEGIN CERTIFICATE-----/.test(readFileSync(path, "utf8")) || `${path} holds no PEM certificate`
  } catch (error) {
    return `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`
  }
}

const credentials = Config.all({
  username: Config.option(Config.String("SCHEMA_REGISTRY_USERNAME")),
  password: Config.option(Config.Redacted("SCHEMA_REGISTRY_PASSWORD"))
}).pipe(Config.flatMap(({ password, username }) => {
  if (Option.isNone(username) && Option.isNone(password)) return Config.succeed(undefined)
  // One without the other is a mistake that would otherwise show up as a 401 on the first record.
  if (Option.isNone(password)) return Config.Redacted("SCHEMA_REGISTRY_PASSWORD").pipe(Config.map(() => undefined))
  if (Option.isNone(username)) return Config.String("SCHEMA_REGISTRY_USERNAME").pipe(Config.map(() => undefined))
  return Config.succeed({
    username: username.value,
    password: Redacted.make(Redacted.value(password.value), { label: "SCHEMA_REGISTRY_PASSWORD" })
  })
}))

/** SCHEMA_REGISTRY_URL (required), basic auth, a private CA and the request timeout. */
export const schemaRegistrySettings: Config.Config<SchemaRegistrySettings> = Config.all({
  url: registryUrl,
  credentials,
  trustedCa: Config.option(
    Config.schema(Schema.String.check(Schema.makeFilter(caFileProblem)), "SCHEMA_REGISTRY_CA_FILE")
  ).pipe(Config.map(Option.map((path) => readFileSync(path, "utf8"))), Config.map(Option.getOrUndefined)),
  requestTimeoutMs: Config.Int("SCHEMA_REGISTRY_TIMEOUT_MS").pipe(Config.withDefault(10_000))
})

/**
 * INPUT_FORMAT (`json` by default, or `confluent-avro`, any case). With `confluent-avro` the registry
 * settings are required, so a missing SCHEMA_REGISTRY_URL stops start-up naming it.
 */
export const inputSettings: Config.Config<InputSettings> = literalsAnyCase(
  ["json", "confluent-avro"],
  "INPUT_FORMAT"
).pipe(
  Config.withDefault<InputFormat>("json"),
  Config.flatMap((format): Config.Config<InputSettings> =>
    format === "json"
      ? Config.succeed({ format })
      : Config.map(schemaRegistrySettings, (registry) => ({ format, registry }))
  )
)
