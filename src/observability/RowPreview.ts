/**
 * What the status page may show of a row. Rows carry card numbers, user ids and free-form metadata, so
 * previews are off unless DASHBOARD_SHOW_ROWS=true (StatusView leaves them out), and even then every value
 * that looks like a card number keeps only its last four digits, in any column and at any depth.
 *
 * "Looks like a card number": 12 to 19 digits, as an integer or as text (alone or inside a longer text,
 * optionally grouped by single spaces or hyphens, e.g. `4111 1111 1111 1111`), not part of a longer word
 * or number. One exception keeps timestamps readable: an integer in epoch-millisecond range (1e11 to 1e13,
 * years 1973 to 2286) in a column whose name says it is a time (`event_time`, `window_start`, `created_at`,
 * `start_ms`, ...). A 16-digit card number is never in that range.
 */

/** A run of 12–19 digits (single spaces or hyphens between them allowed), not inside a word or a decimal. */
const cardNumberRun = /(?<!\w|\d\.)\d(?:[ -]?\d){11,18}(?!\w|\.\d)/g

/** UUIDs are left alone (their groups can be all digits): `split` with this keeps them at odd indexes. */
const uuids = /([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})/

/** What maskDigits makes of a card number: at least 8 stars, then the last 4 digits. */
const maskedCardNumber = /\*(?:[ -]?\*){7,}(?:[ -]?\d){4}/

/** Stars every digit but the last four; separators stay where they were. */
const maskDigits = (text: string): string => {
  const chars = [...text]
  let keep = 4
  for (let i = chars.length - 1; i >= 0; i--) {
    const c = chars[i]!
    if (c >= "0" && c <= "9") {
      if (keep > 0) keep--
      else chars[i] = "*"
    }
  }
  return chars.join("")
}

/** `text` with every card-number-like run of digits masked to its last four digits. */
export const maskCardNumbers = (text: string): string =>
  text.length < 12
    ? text
    : text.split(uuids).map((part, i) => (i % 2 === 1 ? part : part.replace(cardNumberRun, maskDigits))).join("")

/** Whether `text` holds a card number masked by `maskCardNumbers` (a chart key that was a card number). */
export const hasMaskedCardNumber = (text: string): boolean => maskedCardNumber.test(text)

const timeWords = new Set([
  "time",
  "datetime",
  "date",
  "timestamp",
  "ts",
  "at",
  "ms",
  "start",
  "end",
  "window",
  "watermark",
  "epoch"
])

/** `event_time`, `windowStart`, `created_at`, `start_ms`, `datetime`: a column that holds times. */
const isTimeColumn = (key: string): boolean =>
  key.split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/).some((w) => timeWords.has(w.toLowerCase()))

/** A number (or bigint) as shown: masked text when it looks like a card number, else the number itself. */
const maskInteger = (key: string, n: number | bigint): number | string => {
  if (typeof n === "number" && !Number.isInteger(n)) return n
  const digits = typeof n === "bigint" ? (n < 0n ? -n : n).toString() : Math.abs(n).toFixed(0)
  const value = Number(n)
  if (digits.length < 12 || digits.length > 19) return value
  if (isTimeColumn(key) && value >= 1e11 && value < 1e13) return value
  return maskDigits(digits)
}

/** Previews are for a glance: deeper, longer or bigger values are cut (after masking, so no cut shows digits). */
const MaxDepth = 8
const MaxText = 256
const MaxItems = 20

const cut = (text: string): string => (text.length > MaxText ? `${text.slice(0, MaxText)}…` : text)

const preview = (key: string, v: unknown, depth: number): unknown => {
  if (v === null || v === undefined || typeof v === "boolean") return v
  if (typeof v === "string") return cut(maskCardNumbers(v))
  if (typeof v === "number" || typeof v === "bigint") return maskInteger(key, v)
  if (v instanceof Uint8Array) return cut(maskCardNumbers(Buffer.from(v).toString("utf8")))
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString()
  if (typeof v !== "object") return undefined
  if (depth >= MaxDepth) return "…"
  // Elements of an array belong to the column that holds it (an array of times stays times).
  if (Array.isArray(v)) {
    const items = v.slice(0, MaxItems).map((x) => preview(key, x, depth + 1))
    return v.length > MaxItems ? [...items, `… ${v.length - MaxItems} more`] : items
  }
  if ("toJSON" in v && typeof v.toJSON === "function") return preview(key, v.toJSON(), depth + 1)
  const entries = Object.entries(v)
  const shown = entries.slice(0, MaxItems).map(([k, x]) => [cut(maskCardNumbers(k)), preview(k, x, depth + 1)])
  if (entries.length > MaxItems) shown.push(["…", `${entries.length - MaxItems} more`])
  return Object.fromEntries(shown)
}

/**
 * A JSON-safe copy of a row for display (bigint → number, bytes → text, Date → ISO text), with card-like
 * numbers masked in values and keys at any depth; deep, long or big values are cut.
 */
export const previewRow = (row: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [cut(maskCardNumbers(k)), preview(k, v, 0)]))
