import { Schema } from "effect"

/** A transport failure talking to Kafka: retried by callers with backoff, never a reason to skip data. */
export class KafkaError extends Schema.TaggedError<KafkaError>()("KafkaError", {
  operation: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export const kafkaError = (operation: string) => (cause: unknown): KafkaError =>
  new KafkaError({ operation, message: describe(cause), cause })

/**
 * An error's message with the broker's error names inside it: clients wrap per-request errors in an
 * AggregateError whose own message ("Received response with error ...") names none.
 */
const describe = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = cause instanceof AggregateError ? cause.errors : []
  const names = [...new Set(inner.flatMap(brokerErrorNames))]
  return names.length === 0 ? cause.message : `${cause.message}: ${names.join(", ")}`
}

const brokerErrorNames = (e: unknown): Array<string> => {
  if (e instanceof AggregateError) return e.errors.flatMap(brokerErrorNames)
  const apiId = (e as { readonly apiId?: unknown } | null)?.apiId
  return typeof apiId === "string" ? [apiId] : e instanceof Error ? [e.message] : []
}
