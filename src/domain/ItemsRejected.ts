import { Data } from "effect"

/**
 * A sink's answer that some items of a write cannot be stored, by index, with the reason. The others
 * may or may not have been stored (a transactional sink stores none, a bulk API stores them): the
 * runner dead-letters the records behind the named items and writes the others again, which the
 * sinks' upserts make harmless.
 */
export class ItemsRejected extends Data.TaggedError("ItemsRejected")<{
  readonly items: ReadonlyArray<{ readonly index: number; readonly reason: string }>
}> {}
