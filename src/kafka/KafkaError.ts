import { Schema } from "effect"

/** A transport failure talking to Kafka: retried by callers with backoff, never a reason to skip data. */
export class KafkaError extends Schema.TaggedError<KafkaError>()("KafkaError", {
  operation: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export const kafkaError = (operation: string) => (cause: unknown): KafkaError =>
  new KafkaError({ operation, message: cause instanceof Error ? cause.message : String(cause), cause })
