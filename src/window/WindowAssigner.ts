/**
 * Window assigners: which event-time windows a record belongs to.
 *
 * Windows are half-open `[start, end)` intervals in epoch milliseconds. Tumbling and sliding
 * (hopping) windows are *aligned*: every key shares the same boundaries, so the engine can store
 * them in per-window "slices" and fire a whole slice at once. Session windows are per key and merge,
 * so they need their own bookkeeping in the engine.
 *
 * Assigners are plain data (no closures) so that the engine's hot loop can switch on `_tag` and do
 * the arithmetic inline, with no allocation per record.
 */

/** A half-open event-time interval `[start, end)` in epoch milliseconds. */
export interface Window {
  readonly start: number
  readonly end: number
}

/** Fixed-size windows that advance by `slideMs`; tumbling is the case `slideMs === sizeMs`. */
export interface Aligned {
  readonly _tag: "Aligned"
  readonly sizeMs: number
  readonly slideMs: number
  /** Window starts are `offsetMs + n * slideMs` (e.g. to align daily windows to a time zone). */
  readonly offsetMs: number
}

/** Per-key windows that grow while records keep arriving less than `gapMs` apart. */
export interface Session {
  readonly _tag: "Session"
  readonly gapMs: number
}

export type WindowAssigner = Aligned | Session

const checkPositiveInt = (name: string, value: number): void => {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer number of milliseconds, got ${value}`)
  }
}

/** Tumbling windows `[offset + n*size, offset + (n+1)*size)`. */
export const tumbling = (sizeMs: number, offsetMs = 0): Aligned => sliding(sizeMs, sizeMs, offsetMs)

/**
 * Sliding (hopping) windows of `sizeMs` starting every `slideMs`; a record belongs to
 * `ceil(size / slide)` windows (fewer when size is not a multiple of slide).
 * `slideMs > sizeMs` would leave gaps whose records belong to no window; we reject it rather than
 * silently ignoring records.
 */
export const sliding = (sizeMs: number, slideMs: number, offsetMs = 0): Aligned => {
  checkPositiveInt("sizeMs", sizeMs)
  checkPositiveInt("slideMs", slideMs)
  if (slideMs > sizeMs) throw new RangeError(`slideMs (${slideMs}) must not exceed sizeMs (${sizeMs})`)
  if (!Number.isSafeInteger(offsetMs)) throw new RangeError(`offsetMs must be an integer, got ${offsetMs}`)
  // Normalise the offset into [0, slide) so that equal assigners compare equal.
  const offset = ((offsetMs % slideMs) + slideMs) % slideMs
  return { _tag: "Aligned", sizeMs, slideMs, offsetMs: offset }
}

/** Alias: "hopping" is Kafka Streams' name for sliding windows with a fixed advance. */
export const hopping = sliding

/**
 * Session windows: a record at `t` opens `[t, t + gapMs)`; windows of the same key that overlap
 * are merged. Two records exactly `gapMs` apart are therefore in different sessions (the first
 * session's end is exclusive).
 */
export const session = (gapMs: number): Session => {
  checkPositiveInt("gapMs", gapMs)
  return { _tag: "Session", gapMs }
}

/** Start of the latest aligned window containing `t` (floor, also for negative times). */
export const lastStart = (a: Aligned, t: number): number =>
  Math.floor((t - a.offsetMs) / a.slideMs) * a.slideMs + a.offsetMs

/**
 * All windows containing `t`, latest first. Convenience for tests and callers; the engine inlines
 * this loop instead of allocating.
 */
export const windowsFor = (assigner: WindowAssigner, t: number): Array<Window> => {
  if (assigner._tag === "Session") return [{ start: t, end: t + assigner.gapMs }]
  const out: Array<Window> = []
  for (let s = lastStart(assigner, t); s > t - assigner.sizeMs; s -= assigner.slideMs) {
    out.push({ start: s, end: s + assigner.sizeMs })
  }
  return out
}
