import cassandra from "cassandra-driver"
import { Schema } from "effect"
import type { FailureKind } from "../../shared/Retry.ts"

/**
 * A failed Cassandra request. `transient` ones (timeouts, unavailable replicas, no host reachable,
 * overload) are retried with backoff and never skip data; the others (bad CQL, schema mismatch,
 * authorization) would fail the same way again, so they stop the pipeline with nothing committed.
 */
export class CassandraError extends Schema.TaggedError<CassandraError>()("CassandraError", {
  operation: Schema.String,
  transient: Schema.Boolean,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

const codes = cassandra.types.responseErrorCodes
/** Server answers that say "this request is wrong", not "try again later". */
const permanentCodes = new Set<number>([
  codes.protocolError,
  codes.badCredentials,
  codes.syntaxError,
  codes.unauthorized,
  codes.invalid,
  codes.configError,
  codes.alreadyExists,
  codes.functionFailure
])

/**
 * Everything not known to be permanent counts as transient: retrying a permanent error only delays
 * the failure, while treating a transient one as permanent would stop the service needlessly.
 */
export const isTransient = (cause: unknown): boolean => {
  const { errors } = cassandra
  if (cause instanceof errors.ResponseError) return !permanentCodes.has(cause.code)
  if (cause instanceof errors.NoHostAvailableError) {
    const inner = Object.values((cause.innerErrors ?? {}) as Record<string, unknown>)
    return !inner.some((e) => e instanceof errors.AuthenticationError)
  }
  if (cause instanceof errors.AuthenticationError) return false
  if (cause instanceof errors.ArgumentError || cause instanceof errors.NotSupportedError) return false
  // The driver's encoder throws TypeError for a value of the wrong type: a bug, not an outage.
  if (cause instanceof TypeError) return false
  return true
}

/**
 * For the runner: retry transient failures; an `Invalid` answer to an insert (a key over 64 KiB, a value
 * the column cannot take) is the data at fault — its record is dead-lettered; anything else permanent
 * (bad CQL, authorization) stops the pipeline.
 */
export const classifyCassandraError = (error: CassandraError): FailureKind => {
  if (error.transient) return "transient"
  return error.cause instanceof cassandra.errors.ResponseError && error.cause.code === codes.invalid
    ? "rejected"
    : "permanent"
}

export const cassandraError = (operation: string) => (cause: unknown): CassandraError =>
  new CassandraError({
    operation,
    transient: isTransient(cause),
    message: cause instanceof Error ? cause.message : String(cause),
    cause
  })
