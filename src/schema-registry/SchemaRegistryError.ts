import { Schema } from "effect"
import type { Classifier } from "../shared/Retry.ts"

/**
 * The registry could not answer a request. Never the record's fault: `transient` (no answer, 5xx,
 * 429, a timeout) is retried until the registry is back; `permanent` (401/403, a refused request, an
 * answer that is not the registry's API) stops the job with this message.
 */
export class SchemaRegistryError extends Schema.TaggedError<SchemaRegistryError>()("SchemaRegistryError", {
  /** e.g. `GET /schemas/ids/7` (never with credentials). */
  request: Schema.String,
  detail: Schema.String,
  kind: Schema.Literals(["transient", "permanent"]),
  status: Schema.optional(Schema.Int)
}) {
  override get message(): string {
    return `schema registry ${this.request}: ${this.detail}`
  }
}

export const classifySchemaRegistryError: Classifier<SchemaRegistryError> = (e) => e.kind
