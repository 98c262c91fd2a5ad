import { Schema } from "effect"

/**
 * Everything that can go wrong talking to Hopsworks. One error type with a tagged `reason`, so callers
 * can `Effect.catchReason("HopsworksError", "FeatureGroupNotFound", ...)`; every reason's message says
 * what to do about it. No reason ever carries the API key (messages are built from names, status codes
 * and server texts that are scrubbed of the key before they get here).
 */

/** API-key scopes as Hopsworks names them. */
export const ApiKeyScope = Schema.Literals(["PROJECT", "FEATURESTORE", "KAFKA", "JOB", "DATASET_VIEW"])
export type ApiKeyScope = typeof ApiKeyScope.Type

const allScopes = "PROJECT, FEATURESTORE, KAFKA and JOB"
/** Only needed to read a BYOK connector's key and trust stores from the project's datasets. */
const scopesFor = (scope: ApiKeyScope) =>
  scope === "DATASET_VIEW"
    ? "PROJECT, FEATURESTORE, KAFKA, JOB and DATASET_VIEW (your own Kafka's key stores are read from the " +
      "project's datasets)"
    : allScopes

const code = (errorCode: number | undefined) => (errorCode === undefined ? "" : `, errorCode ${errorCode}`)
const said = (serverMessage: string | undefined) =>
  serverMessage === undefined || serverMessage.length === 0 ? "" : ` Server said: "${serverMessage}".`

/** Hopsworks is not configured at all (HOPSWORKS_HOST unset) but the real client was asked for. */
export class NotConfigured extends Schema.TaggedError<NotConfigured>()("NotConfigured", {}) {
  override get message() {
    return "Hopsworks is not configured: set HOPSWORKS_HOST, HOPSWORKS_PROJECT and HOPSWORKS_API_KEY " +
      "(or leave HOPSWORKS_HOST unset to use the local emulator)."
  }
}

/** 401: the key is unknown, revoked or malformed (320002 KEY_NOT_FOUND, 320012 KEY_INVALID). */
export class BadApiKey extends Schema.TaggedError<BadApiKey>()("BadApiKey", {
  endpoint: Schema.String,
  errorCode: Schema.optional(Schema.Int)
}) {
  override get message() {
    return `Hopsworks at ${this.endpoint} rejected the API key (HTTP 401${code(this.errorCode)}): ` +
      "check HOPSWORKS_API_KEY. It must be an API key created on this cluster (Account settings > API keys), " +
      `not expired or deleted, with the scopes ${allScopes}; also check HOPSWORKS_HOST points at the right cluster.`
  }
}

/** 403 / 320004 (or a 403 that says nothing more): the key lacks the scope the endpoint requires. */
export class MissingScope extends Schema.TaggedError<MissingScope>()("MissingScope", {
  scope: ApiKeyScope,
  operation: Schema.String,
  errorCode: Schema.optional(Schema.Int),
  serverMessage: Schema.optional(Schema.String)
}) {
  override get message() {
    return `Hopsworks refused to ${this.operation} (HTTP 403${code(this.errorCode)}): the API key lacks the ` +
      `${this.scope} scope. Create a new API key with the scopes ${scopesFor(this.scope)} and set HOPSWORKS_API_KEY ` +
      "to it." +
      said(this.serverMessage)
  }
}

/**
 * 403 / 320003 KEY_ROLE_CONTROL_EXCEPTION: the key has the scope, but its user's role in the project
 * does not allow the call. A new key would not help; a project owner has to change the role.
 */
export class MissingProjectRole extends Schema.TaggedError<MissingProjectRole>()("MissingProjectRole", {
  operation: Schema.String,
  project: Schema.String,
  serverMessage: Schema.optional(Schema.String)
}) {
  override get message() {
    return `Hopsworks refused to ${this.operation} (HTTP 403, errorCode 320003): the API key's user does not have ` +
      `a role in project "${this.project}" that allows it (the key's scopes are not the problem). Ask a Data ` +
      "Owner of the project to make the user a Data Owner (Project settings > Members)." + said(this.serverMessage)
  }
}

/** 400 / 150004 PROJECT_NOT_FOUND. */
export class ProjectNotFound extends Schema.TaggedError<ProjectNotFound>()("ProjectNotFound", {
  project: Schema.String,
  endpoint: Schema.String
}) {
  override get message() {
    return `Hopsworks project "${this.project}" was not found at ${this.endpoint} (or the API key's user is not a ` +
      "member of it): check HOPSWORKS_PROJECT (the project name as shown in the Hopsworks UI) and HOPSWORKS_HOST."
  }
}

/** 404 / 270008 FEATURESTORE_NOT_FOUND. */
export class FeatureStoreNotFound extends Schema.TaggedError<FeatureStoreNotFound>()("FeatureStoreNotFound", {
  featureStore: Schema.String,
  project: Schema.String
}) {
  override get message() {
    return `Feature store "${this.featureStore}" was not found in project "${this.project}": check ` +
      "HOPSWORKS_PROJECT, and that the project has the feature store service enabled."
  }
}

/** 404 / 270009 FEATUREGROUP_NOT_FOUND (only surfaced where creating it is not wanted). */
export class FeatureGroupNotFound extends Schema.TaggedError<FeatureGroupNotFound>()("FeatureGroupNotFound", {
  name: Schema.String,
  version: Schema.Int,
  project: Schema.String
}) {
  override get message() {
    return `Feature group "${this.name}" version ${this.version} does not exist in project "${this.project}": ` +
      "create it first (resolveFeatureGroup creates a missing stream feature group) or fix the name/version."
  }
}

/** 404 / 40401..40403 on the schema-registry endpoints. */
export class SubjectNotFound extends Schema.TaggedError<SubjectNotFound>()("SubjectNotFound", {
  subject: Schema.String,
  errorCode: Schema.optional(Schema.Int)
}) {
  override get message() {
    return `Avro subject "${this.subject}" was not found in the Hopsworks schema registry${
      this.errorCode === undefined ? "" : ` (errorCode ${this.errorCode})`
    }: the feature group has no stream schema. It must be a stream feature group (created with stream=True or ` +
      "by this service); recreate it as one, or check that the feature group name and version are right."
  }
}

/** The materialization job does not exist under either of its names. */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", {
  jobs: Schema.Array(Schema.String),
  project: Schema.String
}) {
  override get message() {
    return `None of the jobs ${this.jobs.map((j) => `"${j}"`).join(", ")} exists in project "${this.project}": ` +
      "the feature group was not created as a stream feature group with offline storage, so there is nothing to " +
      "materialize; check the feature group in the Hopsworks UI (Jobs)."
  }
}

/** The materialization job has an execution that has not finished: a second one would write the same rows again. */
export class MaterializationRunning extends Schema.TaggedError<MaterializationRunning>()("MaterializationRunning", {
  job: Schema.String,
  executionId: Schema.Int,
  state: Schema.String
}) {
  override get message() {
    return `The job "${this.job}" already has execution ${this.executionId} running (state ${this.state}); ` +
      "not starting another, which would materialize the same rows twice. Wait for it to finish (Hopsworks UI > " +
      "Jobs) and run this again."
  }
}

/** 5xx (or 408 / 429) that did not go away after the bounded retries. */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  operation: Schema.String,
  status: Schema.Int,
  attempts: Schema.Int,
  serverMessage: Schema.optional(Schema.String)
}) {
  override get message() {
    return `Hopsworks kept failing to ${this.operation} (HTTP ${this.status} after ${this.attempts} attempts): ` +
      "the cluster is failing or overloaded. Check the cluster's health (or status page) and retry later; " +
      "nothing was changed on this side." + said(this.serverMessage)
  }
}

/** Connection refused / reset / timed out, after the bounded retries. */
export class Unreachable extends Schema.TaggedError<Unreachable>()("Unreachable", {
  operation: Schema.String,
  endpoint: Schema.String,
  attempts: Schema.Int,
  detail: Schema.String
}) {
  override get message() {
    return `Could not reach Hopsworks at ${this.endpoint} to ${this.operation} after ${this.attempts} attempts ` +
      `(${this.detail}): check HOPSWORKS_HOST, HOPSWORKS_PORT and HOPSWORKS_SCHEME, network access from here, ` +
      "and HOPSWORKS_HOSTNAME_VERIFICATION if the cluster uses a self-signed certificate."
  }
}

/** The feature group definition cannot be created as given (checked before any request). */
export class InvalidFeatureGroupSpec extends Schema.TaggedError<InvalidFeatureGroupSpec>()("InvalidFeatureGroupSpec", {
  name: Schema.String,
  version: Schema.Int,
  detail: Schema.String
}) {
  override get message() {
    return `Feature group "${this.name}" version ${this.version} cannot be created: ${this.detail}. ` +
      "Fix the feature group definition in the pipeline."
  }
}

/**
 * The feature store's Kafka connector cannot be used as configured (a BYOK connector with an unknown
 * protocol, SASL without usable credentials, a store that cannot be read). `detail` never holds a secret.
 */
export class KafkaConnectorUnusable extends Schema.TaggedError<KafkaConnectorUnusable>()("KafkaConnectorUnusable", {
  detail: Schema.String
}) {
  override get message() {
    return `The feature store's Kafka connector ("kafka_connector", your own Kafka) cannot be used: ${this.detail}. ` +
      "Fix the connector in the Hopsworks UI (Feature Store > Storage connectors > kafka_connector) and restart."
  }
}

/** Any other 4xx: the request was understood and refused. */
export class RequestRejected extends Schema.TaggedError<RequestRejected>()("RequestRejected", {
  operation: Schema.String,
  status: Schema.Int,
  errorCode: Schema.optional(Schema.Int),
  serverMessage: Schema.optional(Schema.String)
}) {
  override get message() {
    return `Hopsworks rejected the request to ${this.operation} (HTTP ${this.status}${code(this.errorCode)}): ` +
      "this is not retried; read the server's message, fix the cause (usually the feature group definition or " +
      "project settings) and restart." + said(this.serverMessage)
  }
}

/** 2xx whose body does not have the documented shape (unsupported server version, proxy page, ...). */
export class UnexpectedResponse extends Schema.TaggedError<UnexpectedResponse>()("UnexpectedResponse", {
  operation: Schema.String,
  status: Schema.Int,
  detail: Schema.String
}) {
  override get message() {
    return `Hopsworks answered the request to ${this.operation} with HTTP ${this.status} and a body this client ` +
      `does not understand (${this.detail}): check that HOPSWORKS_HOST/HOPSWORKS_PORT reach the Hopsworks API ` +
      "directly (not a proxy or login page) and that the server is Hopsworks 3.4 or newer."
  }
}

export const HopsworksErrorReason = Schema.Union([
  NotConfigured,
  BadApiKey,
  MissingScope,
  MissingProjectRole,
  ProjectNotFound,
  FeatureStoreNotFound,
  FeatureGroupNotFound,
  SubjectNotFound,
  JobNotFound,
  MaterializationRunning,
  ServerError,
  Unreachable,
  InvalidFeatureGroupSpec,
  KafkaConnectorUnusable,
  RequestRejected,
  UnexpectedResponse
])
export type HopsworksErrorReason = typeof HopsworksErrorReason.Type

export class HopsworksError extends Schema.TaggedError<HopsworksError>()("HopsworksError", {
  reason: HopsworksErrorReason
}) {
  override get message() {
    return this.reason.message
  }
}
