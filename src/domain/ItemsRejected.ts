import { Data } from "effect"

/**
 * A sink's answer that some items of a write cannot be stored, by index, with the reason — and that
 * nothing of that write was stored. The runner dead-letters the records behind those items and
 * writes the others again.
 */
export class ItemsRejected extends Data.TaggedError("ItemsRejected")<{
  readonly items: ReadonlyArray<{ readonly index: number; readonly reason: string }>
}> {}
