import { Schema } from "effect"

/**
 * Text a sink stores exactly as it was sent. JSON can spell a lone UTF-16 surrogate (`"\ud800"`), a
 * string with no UTF-8 form: a database driver or Kafka client encoding it writes U+FFFD instead, so
 * the stored value differs from the input and two different values can become the same key, with no
 * error. Such text is refused when the record is decoded (dead-lettered), like bytes that are not UTF-8.
 */
export const isWellFormedText = Schema.makeFilter((s: string) =>
  s.isWellFormed() || "Expected text without lone UTF-16 surrogates (they have no UTF-8 form)"
)

/** A string with a UTF-8 form. */
export const Text = Schema.String.check(isWellFormedText)

/** A non-empty string with a UTF-8 form. */
export const NonEmptyText = Schema.NonEmptyString.check(isWellFormedText)
