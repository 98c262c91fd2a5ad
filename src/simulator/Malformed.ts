/**
 * Ways to spoil a simulated record so that the pipeline must dead-letter it. Meant to be imported
 * whole: `import * as Malformed from "./Malformed.ts"`, then `Malformed.withField("currency", "DOLLARS")`.
 */

/** One way to spoil a record, from its wire form to the text published instead. */
export type Kind<A> = (record: A) => string

/** Not JSON at all. */
export const notJson: Kind<unknown> = () => "{not json"

/** The record with `field` set to a value its schema rejects. */
export const withField = (field: string, value: unknown): Kind<object> => (record) =>
  JSON.stringify({ ...record, [field]: value })

/** The record without the required `field`. */
export const withoutField = (field: string): Kind<object> => (record) => {
  const { [field]: _, ...rest } = record as Record<string, unknown>
  return JSON.stringify(rest)
}
