import { Effect } from "effect"
import { ItemsRejected } from "../domain/ItemsRejected.ts"
import type { Classifier } from "../shared/Retry.ts"

export interface Rejection {
  /** Index into the items of the whole write. */
  readonly index: number
  readonly reason: string
}

export const rejectedKind = <E>(classify: Classifier<E>): Classifier<E> => (e) =>
  e instanceof ItemsRejected ? "rejected" : classify(e)

/**
 * Writes `count` items, setting aside those the sink rejects. `write(indices, after)` writes the
 * listed items; `after` is the index of the first item not handled once it succeeds (`count` at the
 * end), for sinks that store a resume position with the rows. A sink that names the items at fault
 * (`ItemsRejected`) has them dead-lettered before the rest is written; a rejected write that names
 * none is split in halves until the single items at fault are found (log2(n) extra writes per bad
 * item). Items are always handled in order, so a stored position never passes an unhandled item.
 */
export const writeSettingAside = <A, E, E2, R>(
  count: number,
  write: (indices: ReadonlyArray<number> | undefined, after: number) => Effect.Effect<A, E, R>,
  classify: Classifier<E>,
  deadLetter: (rejected: ReadonlyArray<Rejection>) => Effect.Effect<void, E2, R>
): Effect.Effect<Array<A>, E | E2, R> => {
  const results: Array<A> = []
  // `undefined`: every item, in one write (the usual case, with no index list built); also when there
  // are none, so that a sink storing a resume position still records it.
  const go = (only: ReadonlyArray<number> | undefined): Effect.Effect<void, E | E2, R> => {
    if (only !== undefined && only.length === 0) return Effect.void
    const after = only === undefined ? count : only[only.length - 1]! + 1
    return write(only, after).pipe(
      Effect.map((a) => void results.push(a)),
      Effect.catch((e): Effect.Effect<void, E | E2, R> => {
        const indices = only ?? Array.from({ length: count }, (_, i) => i)
        if (e instanceof ItemsRejected && e.items.length > 0) {
          const named = e.items.map((r) => ({ index: indices[r.index]!, reason: r.reason }))
          const out = new Set(named.map((r) => r.index))
          return Effect.andThen(deadLetter(named), go(indices.filter((i) => !out.has(i))))
        }
        if (classify(e) !== "rejected") return Effect.fail(e)
        if (indices.length === 1) {
          return deadLetter([{ index: indices[0]!, reason: reasonOf(e) }])
        }
        const half = Math.ceil(indices.length / 2)
        return Effect.andThen(go(indices.slice(0, half)), go(indices.slice(half)))
      })
    )
  }
  return Effect.as(go(undefined), results)
}

const reasonOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)
