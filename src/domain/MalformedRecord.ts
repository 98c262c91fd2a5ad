import { Schema } from "effect"

/** Input that cannot be decoded or validated: a value for the dead-letter topic, never a crash. */
export class MalformedRecord extends Schema.TaggedError<MalformedRecord>()("MalformedRecord", {
  topic: Schema.String,
  partition: Schema.Int,
  offset: Schema.String,
  reason: Schema.String
}) {}

/** Turns a schema failure into one readable line: `field: problem`. */
export const describeIssue = (error: { readonly message: string }): string => {
  const [problem = "invalid", ...rest] = error.message.split("\n")
  const path = rest.find((line) => line.trim().startsWith("at "))?.trim().slice(3)
  if (path === undefined) return problem.trim()
  const field = (JSON.parse(path) as Array<string | number>).join(".")
  return `${field}: ${problem.trim()}`
}
