import { Schema } from "effect"

/** Input that cannot be decoded or validated: a value for the dead-letter topic, never a crash. */
export class MalformedRecord extends Schema.TaggedError<MalformedRecord>()("MalformedRecord", {
  topic: Schema.String,
  partition: Schema.Int,
  offset: Schema.String,
  reason: Schema.String
}) {}

/** Turns a schema failure into one readable line: `field.sub: problem` (paths print as `["data"]["0001"]`). */
export const describeIssue = (error: { readonly message: string }): string => {
  const [problem = "invalid", ...rest] = error.message.split("\n")
  const path = rest.find((line) => line.trim().startsWith("at "))?.trim().slice(3)
  if (path === undefined) return problem.trim()
  const segments = [...path.matchAll(/\[(\d+|"(?:[^"\\]|\\.)*")\]/g)].map((m) => {
    const segment = m[1]!
    return segment.startsWith("\"") ? (JSON.parse(segment) as string) : segment
  })
  return `${segments.length > 0 ? segments.join(".") : path}: ${problem.trim()}`
}
