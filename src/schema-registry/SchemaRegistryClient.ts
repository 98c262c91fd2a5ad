import { NodeHttpClient } from "@effect/platform-node"
import { Cache, Cause, Duration, Effect, Exit, Layer, Option, Redacted, Schema, type Scope } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import type { SchemaRegistrySettings } from "../config/SchemaRegistryConfig.ts"
import { type RetryPolicy, retryWith } from "../shared/Retry.ts"
import { classifySchemaRegistryError, SchemaRegistryError } from "./SchemaRegistryError.ts"

/** A schema as the registry stores it: its text and kind (`AVRO` when the registry leaves it out). */
export interface RegisteredSchema {
  readonly id: number
  readonly schema: string
  readonly schemaType: string
}

/**
 * The few calls of the Confluent Schema Registry API Tributary makes. Lookups by id are cached for
 * the process's life (an id's schema never changes), and concurrent lookups of one id share one
 * request. Outages are retried inside (SchemaRegistryError `transient`), so callers only see
 * permanent failures.
 */
export interface SchemaRegistryClient {
  /** The schema with this id, or None when the registry has no such id (the record's fault). */
  readonly schemaById: (id: number) => Effect.Effect<Option.Option<RegisteredSchema>, SchemaRegistryError>
  /** Registers `schema` under `subject` (idempotent: an existing identical schema keeps its id). */
  readonly register: (
    subject: string,
    schema: string,
    schemaType?: string
  ) => Effect.Effect<number, SchemaRegistryError>
}

const contentType = "application/vnd.schemaregistry.v1+json"

const SchemaBody = Schema.Struct({ schema: Schema.String, schemaType: Schema.optional(Schema.String) })
const IdBody = Schema.Struct({ id: Schema.Int })
const ErrorBody = Schema.Struct({ error_code: Schema.optional(Schema.Int), message: Schema.optional(Schema.String) })

/** Confluent's "schema not found" error code (also on 404s for a subject that does not exist). */
const schemaNotFound = 40403

export interface SchemaRegistryClientOptions {
  /** Retry tuning (tests pass a short schedule or a bound); default: unbounded, the project's backoff. */
  readonly retry?: Partial<RetryPolicy<SchemaRegistryError>> | undefined
}

/** A status other than 2xx, as an error: outages and rate limits are transient, refusals permanent. */
const statusError = (what: string, status: number, body: string) => {
  const parsed = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))(body)
  const message = Option.match(parsed, {
    onNone: () => body.trim().slice(0, 200),
    onSome: (b) => `${b.message ?? ""}${b.error_code === undefined ? "" : ` (error code ${b.error_code})`}`
  })
  const transient = status >= 500 || status === 429 || status === 408
  return new SchemaRegistryError({
    request: what,
    status,
    detail: `HTTP ${status}${status === 401 || status === 403 ? ", check SCHEMA_REGISTRY_USERNAME / PASSWORD" : ""}${
      message.length > 0 ? `: ${message}` : ""
    }`,
    kind: transient ? "transient" : "permanent"
  })
}

const bodyAs = <S extends Schema.Decoder<unknown>>(schema: S, what: string, body: string) =>
  Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(body).pipe(
    Effect.mapError(() =>
      new SchemaRegistryError({
        request: what,
        detail: `the answer is not the Schema Registry API's: ${body.trim().slice(0, 200)}`,
        kind: "permanent"
      })
    )
  )

/** A client over the given HttpClient. */
export const makeSchemaRegistryClientWith = (
  settings: SchemaRegistrySettings,
  http: HttpClient.HttpClient,
  options: SchemaRegistryClientOptions = {}
): Effect.Effect<SchemaRegistryClient> => {
  const retried = <A>(effect: Effect.Effect<A, SchemaRegistryError>) =>
    effect.pipe(retryWith<SchemaRegistryError>({
      classify: classifySchemaRegistryError,
      onRetry: (e) => Effect.logWarning(`${e.message}; retrying (the records wait, none is dead-lettered)`),
      ...options.retry
    }))

  return Effect.gen(function*() {
    const authorization = settings.credentials === undefined ?
      undefined :
      `Basic ${
        Buffer.from(`${settings.credentials.username}:${Redacted.value(settings.credentials.password)}`).toString(
          "base64"
        )
      }`

    /** One attempt: the response's status and body text, or why there was none. */
    const send = (request: HttpClientRequest.HttpClientRequest, what: string) =>
      http.execute(
        authorization === undefined ? request : HttpClientRequest.setHeader(request, "Authorization", authorization)
      )
        .pipe(
          Effect.flatMap((response) => Effect.map(response.text, (body) => ({ status: response.status, body }))),
          Effect.timeout(Duration.millis(settings.requestTimeoutMs)),
          Effect.mapError((e) =>
            new SchemaRegistryError({
              request: what,
              detail: Cause.isTimeoutError(e)
                ? `no answer within ${settings.requestTimeoutMs} ms`
                : `no answer from ${settings.url}: ${e.reason._tag}`,
              kind: "transient"
            })
          )
        )

    const fetchById = (id: number) => {
      const what = `GET /schemas/ids/${id}`
      return send(HttpClientRequest.get(`${settings.url}/schemas/ids/${id}`).pipe(HttpClientRequest.acceptJson), what)
        .pipe(
          Effect.flatMap(({ body, status }): Effect.Effect<Option.Option<RegisteredSchema>, SchemaRegistryError> => {
            if (status === 404) {
              // A 404 without the registry's "not found" code is a wrong URL, not a missing schema.
              const code = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))(body).pipe(
                Option.flatMap((b) => Option.fromUndefinedOr(b.error_code))
              )
              if (Option.contains(code, schemaNotFound)) return Effect.succeed(Option.none())
              return Effect.fail(statusError(what, status, body))
            }
            if (status < 200 || status >= 300) return Effect.fail(statusError(what, status, body))
            return Effect.map(
              bodyAs(SchemaBody, what, body),
              (b) => Option.some({ id, schema: b.schema, schemaType: b.schemaType ?? "AVRO" })
            )
          }),
          retried
        )
    }

    const byId = yield* Cache.makeWith(fetchById, {
      capacity: 10_000,
      // Known ids forever (immutable); an unknown id is asked again next time (it may be registered later).
      timeToLive: (exit) => Exit.isSuccess(exit) && Option.isSome(exit.value) ? Duration.infinity : Duration.zero
    })

    const register = (subject: string, schema: string, schemaType?: string) => {
      const what = `POST /subjects/${subject}/versions`
      return send(
        HttpClientRequest.post(`${settings.url}/subjects/${encodeURIComponent(subject)}/versions`).pipe(
          HttpClientRequest.setHeader("Accept", contentType),
          HttpClientRequest.bodyText(
            JSON.stringify(schemaType === undefined || schemaType === "AVRO" ? { schema } : { schema, schemaType }),
            contentType
          )
        ),
        what
      ).pipe(
        Effect.flatMap(({ body, status }) =>
          status >= 200 && status < 300
            ? Effect.map(bodyAs(IdBody, what, body), (b) => b.id)
            : Effect.fail(statusError(what, status, body))
        ),
        retried
      )
    }

    return { schemaById: (id: number) => Cache.get(byId, id), register }
  })
}

/** Undici agent options: a private CA when SCHEMA_REGISTRY_CA_FILE names one (verification stays on). */
export const registryHttpOptions = (settings: SchemaRegistrySettings) =>
  settings.trustedCa === undefined ? {} : { connect: { ca: settings.trustedCa } }

/** A client with its own HTTP connection pool, closed with the scope. */
export const makeSchemaRegistryClient = (
  settings: SchemaRegistrySettings,
  options: SchemaRegistryClientOptions = {}
): Effect.Effect<SchemaRegistryClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(NodeHttpClient.layerUndiciOptions(registryHttpOptions(settings)))
    return yield* makeSchemaRegistryClientWith(
      settings,
      yield* Effect.provideContext(HttpClient.HttpClient, context),
      options
    )
  })
