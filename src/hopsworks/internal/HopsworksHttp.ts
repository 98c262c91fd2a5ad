import { Cause, Data, Duration, Effect, flow, Option, Redacted, type Schedule, Schema } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest, HttpClientResponse } from "effect/http"
import type { HopsworksSettings } from "../../config/HopsworksConfig.ts"
import { type Classifier, type FailureKind, retryWith, transientBackoff } from "../../shared/Retry.ts"
import {
  type ApiKeyScope,
  BadApiKey,
  FeatureStoreNotFound,
  HopsworksError,
  type HopsworksErrorReason,
  MissingProjectRole,
  MissingScope,
  ProjectNotFound,
  RequestRejected,
  ServerError,
  UnexpectedResponse,
  Unreachable
} from "../HopsworksError.ts"
import { ErrorBodyFromJson } from "../HopsworksSchemas.ts"

/**
 * The Hopsworks REST transport shared by the endpoint groups: base URL, `Authorization: ApiKey ...`,
 * a timeout per attempt, retries of what may pass (see `classify`), and the meaning of the statuses
 * that mean the same on every endpoint. Everything else a non-2xx means is the endpoint's call
 * (`Rejected`, `recover`).
 */

export interface HttpRetryOptions {
  /** Attempts per request on 5xx, 408, 429, connection errors and timeouts (default 5). Other 4xx are never retried. */
  readonly maxAttempts?: number | undefined
  /** Delay schedule between attempts (default `transientBackoff`). */
  readonly retrySchedule?: Schedule.Schedule<unknown, unknown> | undefined
}

/** What a request is for: used in messages and to name the scope a 403 is about. */
export interface Operation {
  readonly description: string
  readonly scope: ApiKeyScope
  /**
   * Set on POSTs that create something. They get no client-side timeout: the server finishes what it
   * started whatever we do, so giving up early only leaves us not knowing whether it happened.
   * `repeatable`: sending it again is harmless (the server answers "exists", or the same id), so it is
   * retried like a read; `once`: a repeat would make a second one, so it is sent with `sendOnce` and
   * retried only through `create`, which looks first.
   */
  readonly creates?: "repeatable" | "once" | undefined
}

/** What the server said about a non-2xx answer, as far as it said anything. */
interface ServerInfo {
  readonly errorCode: number | undefined
  readonly serverMessage: string | undefined
}

/** A non-2xx answer that is neither transient nor 401/403, body read: the endpoint decides what it means. */
class Rejected extends Data.TaggedError("Rejected")<ServerInfo & { readonly status: number }> {}

/** One attempt got an answer, but not a 2xx one. */
class StatusFailure extends Data.TaggedError("StatusFailure")<{ readonly status: number; readonly body: string }> {}

/** One attempt got no answer: connection failed, timed out, or the request could not even be built. */
class NoAnswer extends Data.TaggedError("NoAnswer")<{ readonly detail: string; readonly kind: FailureKind }> {}

type AttemptFailure = StatusFailure | NoAnswer

/** A create sent once got no clear answer (no answer, 5xx, 408, 429): it may or may not have happened. */
export class Ambiguous extends Data.TaggedError("Ambiguous")<{ readonly failure: AttemptFailure }> {}

/**
 * An outage (5xx), a rate limit (429), a server-side timeout (408) or no answer at all may pass, so
 * they are retried; any other 4xx (bad key, missing scope, not found, bad request) would fail the
 * same way again and goes straight back to the caller.
 *
 * Creating calls are the exception (see `Operation.creates`): a repeat of one that may have succeeded
 * is only sent after looking whether it did.
 */
const classify: Classifier<AttemptFailure> = (failure) => {
  if (failure._tag === "NoAnswer") return failure.kind
  const { status } = failure
  return status >= 500 || status === 429 || status === 408 ? "transient" : "permanent"
}

export interface HopsworksHttp {
  readonly settings: HopsworksSettings
  /** `<scheme>://<host>:<port>`, for messages. */
  readonly endpoint: string
  /** `<project lower>_featurestore`, the project's default feature store. */
  readonly featureStoreName: string
  /** One request, retried while transient; 401/403 are mapped here, any other non-2xx fails with `Rejected`. */
  readonly send: (
    op: Operation,
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HopsworksError | Rejected>
  /** A `creates: "once"` request, sent once without a timeout; `Ambiguous` when it may or may not have happened. */
  readonly sendOnce: (
    op: Operation,
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HopsworksError | Rejected | Ambiguous>
  /**
   * Makes something that must not be made twice: `attempt` (built on `sendOnce`) is tried; after an
   * ambiguous outcome, and a backoff, `find` looks whether it exists now and, if so, that is the
   * answer; otherwise `attempt` is tried again, up to the attempts of any request.
   */
  readonly create: <A, E>(
    op: Operation,
    options: {
      readonly find: Effect.Effect<Option.Option<A>, E>
      readonly attempt: Effect.Effect<A, E | Ambiguous>
    }
  ) => Effect.Effect<A, E | HopsworksError>
  /** The 2xx body decoded with `schema` (UnexpectedResponse when it has another shape). */
  readonly decode: <S extends Schema.Constraint & { readonly DecodingServices: never }>(
    op: Operation,
    schema: S
  ) => (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<S["Type"], HopsworksError>
  /** `send` + `decode`, with the default meaning of every non-2xx. */
  readonly json: <S extends Schema.Constraint & { readonly DecodingServices: never }>(
    op: Operation,
    request: HttpClientRequest.HttpClientRequest,
    schema: S
  ) => Effect.Effect<S["Type"], HopsworksError>
  /**
   * Gives some non-2xx answers an endpoint's own meaning: `handle` answers for those and returns
   * undefined for the rest, which get the meaning they have on any endpoint (see `reject`).
   */
  readonly recover: <B = never>(
    op: Operation,
    handle: (rejected: Rejected) => Effect.Effect<B, HopsworksError> | undefined
  ) => <A, E, R>(self: Effect.Effect<A, E | Rejected, R>) => Effect.Effect<A | B, E | HopsworksError, R>
}

export const asHopsworksError = (reason: HopsworksErrorReason): HopsworksError => new HopsworksError({ reason })

export const optionalCode = (errorCode: number | undefined) => (errorCode === undefined ? {} : { errorCode })
const optionalMessage = (serverMessage: string | undefined) => serverMessage === undefined ? {} : { serverMessage }

/** The server's error code and message, for the fields of an error reason (absent ones left out). */
const serverDetails = (info: ServerInfo) => ({
  ...optionalCode(info.errorCode),
  ...optionalMessage(info.serverMessage)
})

export const makeHopsworksHttp = (
  settings: HopsworksSettings,
  httpClient: HttpClient.HttpClient,
  options: HttpRetryOptions
): HopsworksHttp => {
  const endpoint = `${settings.scheme}://${settings.host}:${settings.port}`
  const featureStoreName = `${settings.project.toLowerCase()}_featurestore`
  const apiKey = Redacted.value(settings.apiKey)
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5)
  const timeout = Duration.millis(settings.requestTimeoutMs)

  /** Removes the API key from any text that came from elsewhere (server bodies, error causes). */
  const scrub = (text: string): string => (apiKey.length > 0 ? text.split(apiKey).join("<redacted>") : text)

  const errorInfo = (body: string): ServerInfo => {
    const decoded = Schema.decodeUnknownOption(ErrorBodyFromJson)(body)
    if (Option.isNone(decoded)) {
      const text = scrub(body.trim())
      return { errorCode: undefined, serverMessage: text.length > 0 ? text.slice(0, 300) : undefined }
    }
    const b = decoded.value
    if ("error_code" in b) return { errorCode: b.error_code, serverMessage: b.message ? scrub(b.message) : undefined }
    const message = [b.usrMsg, b.errorMsg].filter((m): m is string => typeof m === "string" && m.length > 0)
    return {
      errorCode: b.errorCode ?? undefined,
      serverMessage: message.length > 0 ? scrub(message.join(" - ")) : undefined
    }
  }

  /** One attempt, ending in a 2xx response with its body read, or in the reason it did not. */
  const attempt = (timed: boolean) =>
  (
    response: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, AttemptFailure> =>
    response.pipe(
      // Read inside the attempt so the timeout covers the body and a cut-off body is retried; the
      // response keeps it for `schemaBodyJson`.
      Effect.tap((r) => r.text),
      Effect.catchReason("HttpClientError", "StatusCodeError", (reason) =>
        Effect.flatMap(
          reason.response.text,
          (body) => Effect.fail(new StatusFailure({ status: reason.response.status, body }))
        )),
      timed ? Effect.timeout(timeout) : (self) => self,
      Effect.mapError((e): AttemptFailure => {
        if (e._tag === "StatusFailure") return e
        if (Cause.isTimeoutError(e)) {
          return new NoAnswer({ detail: `no answer within ${settings.requestTimeoutMs} ms`, kind: "transient" })
        }
        // a URL or body that cannot be built fails the same way every time
        const unbuildable = e.reason._tag === "InvalidUrlError" || e.reason._tag === "EncodeError"
        return new NoAnswer({ detail: scrub(describeTransport(e)), kind: unbuildable ? "permanent" : "transient" })
      })
    )

  const schedule = options.retrySchedule ?? transientBackoff
  const base = httpClient.pipe(
    HttpClient.mapRequest(flow(
      HttpClientRequest.prependUrl(`${endpoint}/hopsworks-api/api`),
      HttpClientRequest.setHeader("Authorization", `ApiKey ${apiKey}`),
      HttpClientRequest.acceptJson
    )),
    HttpClient.filterStatusOk
  )
  const retried = HttpClient.transformResponse(retryWith({
    classify,
    times: maxAttempts - 1,
    schedule,
    onRetry: (failure: AttemptFailure) =>
      Effect.logDebug(
        `Hopsworks request failed (${failure._tag === "StatusFailure" ? failure.status : "no response"}), ` +
          "will retry if attempts remain"
      )
  }))
  const client = base.pipe(HttpClient.transformResponse(attempt(true)), retried)
  const untimedClient = base.pipe(HttpClient.transformResponse(attempt(false)), retried)
  const onceClient = base.pipe(HttpClient.transformResponse(attempt(false)))

  /** The last ambiguous outcome of a create, once its attempts are used up. */
  const afterAttempts = (op: Operation, failure: AttemptFailure): HopsworksError => {
    const error = afterRetries(op, failure)
    // only transient failures are ambiguous, and those never map to Rejected
    return error._tag === "Rejected"
      ? asHopsworksError(new RequestRejected({ operation: op.description, status: error.status }))
      : error
  }

  /** What an attempt's failure means once the retries are over. */
  const afterRetries = (op: Operation, failure: AttemptFailure): HopsworksError | Rejected => {
    if (failure._tag === "NoAnswer") {
      // transient: every attempt was used; permanent: the first one already could not be sent
      const attempts = failure.kind === "transient" ? maxAttempts : 1
      return asHopsworksError(
        new Unreachable({ operation: op.description, endpoint, attempts, detail: failure.detail })
      )
    }
    const info = errorInfo(failure.body)
    if (classify(failure) === "transient") {
      return asHopsworksError(
        new ServerError({
          operation: op.description,
          status: failure.status,
          attempts: maxAttempts,
          ...optionalMessage(info.serverMessage)
        })
      )
    }
    if (failure.status === 401) return asHopsworksError(new BadApiKey({ endpoint, ...optionalCode(info.errorCode) }))
    if (failure.status === 403 && info.errorCode === 320003) {
      return asHopsworksError(
        new MissingProjectRole({
          operation: op.description,
          project: settings.project,
          ...optionalMessage(info.serverMessage)
        })
      )
    }
    if (failure.status === 403) {
      return asHopsworksError(new MissingScope({ scope: op.scope, operation: op.description, ...serverDetails(info) }))
    }
    return new Rejected({ status: failure.status, ...info })
  }

  const send: HopsworksHttp["send"] = (op, request) =>
    (op.creates === undefined ? client : untimedClient).execute(request).pipe(
      Effect.mapError((failure) => afterRetries(op, failure)),
      Effect.annotateLogs({ operation: op.description })
    )

  const sendOnce: HopsworksHttp["sendOnce"] = (op, request) =>
    onceClient.execute(request).pipe(
      Effect.mapError((failure) =>
        classify(failure) === "transient" ? new Ambiguous({ failure }) : afterRetries(op, failure)
      ),
      Effect.annotateLogs({ operation: op.description })
    )

  const create: HopsworksHttp["create"] = (op, { attempt: tryCreate, find }) => {
    let first = true
    // the caller has just looked before the first attempt; every later one looks again first
    const once = Effect.suspend(() => {
      const look = first ? Effect.succeedNone : find
      first = false
      return Effect.flatMap(look, Option.match({ onSome: Effect.succeed, onNone: () => tryCreate }))
    })
    return once.pipe(
      Effect.tapError((e) =>
        isAmbiguous(e)
          ? Effect.logWarning(
            `Hopsworks gave no clear answer to the request to ${op.description} (${describeAttempt(e.failure)}); ` +
              "looking whether it happened before trying again"
          )
          : Effect.void
      ),
      Effect.retry({ schedule, times: maxAttempts - 1, while: isAmbiguous }),
      Effect.mapError((e) => (isAmbiguous(e) ? afterAttempts(op, e.failure) : e))
    )
  }

  const decode: HopsworksHttp["decode"] = (op, schema) => (response) =>
    HttpClientResponse.schemaBodyJson(schema)(response).pipe(
      Effect.mapError((e) =>
        asHopsworksError(
          new UnexpectedResponse({
            operation: op.description,
            status: response.status,
            detail: scrub(e.message).slice(0, 500)
          })
        )
      )
    )

  /** What a non-2xx means when the endpoint has nothing special to say about it. */
  const reject = (op: Operation, rejected: Rejected): HopsworksError => {
    if (rejected.errorCode === 150004) {
      return asHopsworksError(new ProjectNotFound({ project: settings.project, endpoint }))
    }
    if (rejected.errorCode === 270008) {
      return asHopsworksError(new FeatureStoreNotFound({ featureStore: featureStoreName, project: settings.project }))
    }
    return asHopsworksError(
      new RequestRejected({ operation: op.description, status: rejected.status, ...serverDetails(rejected) })
    )
  }

  const recover: HopsworksHttp["recover"] = (op, handle) => (self) =>
    Effect.catchIf(
      self,
      (e): e is Rejected => e instanceof Rejected,
      (rejected) => handle(rejected) ?? Effect.fail(reject(op, rejected))
    )

  const json: HopsworksHttp["json"] = (op, request, schema) =>
    send(op, request).pipe(Effect.flatMap(decode(op, schema)), recover(op, () => undefined))

  return { settings, endpoint, featureStoreName, send, sendOnce, create, decode, json, recover }
}

const isAmbiguous = (e: unknown): e is Ambiguous =>
  typeof e === "object" && e !== null && "_tag" in e && e._tag === "Ambiguous"

const describeAttempt = (failure: AttemptFailure): string =>
  failure._tag === "NoAnswer" ? failure.detail : `HTTP ${failure.status}`

/** A transport failure in one line, without request headers. */
const describeTransport = (e: unknown): string => {
  if (typeof e === "object" && e !== null && "reason" in e) {
    const reason = (e as { reason: { _tag?: string; description?: string; cause?: unknown } }).reason
    const cause = reason.cause instanceof Error
      ? (reason.cause.cause instanceof Error ? reason.cause.cause.message : reason.cause.message)
      : undefined
    return [reason._tag, reason.description, cause].filter((s) => typeof s === "string" && s.length > 0).join(": ")
  }
  return e instanceof Error ? e.message : String(e)
}
