import { Effect } from "effect"
import type { CommitOffset, RecordBatch, SourceEvent } from "../kafka/KafkaRecord.ts"

/**
 * The runner's spans: one per batch (or group of batches) and stage — `prepare`, `write`, `apply` —
 * each the root of its own trace (a pipeline runs for weeks; one trace per step keeps traces small),
 * with the pipeline, record count and the partition/offset ranges as attributes. Work done inside a
 * stage (dead letters, the sink's write) is traced as its children. Attributes are read from the
 * batches' first and last records and the commit offsets: nothing here looks at every record.
 */

type Attributes = Record<string, string | number>

/** At most this many partitions are named in one attribute. */
const maxRanges = 16

const joinCapped = (parts: ReadonlyArray<string>) =>
  parts.length <= maxRanges ? parts.join(",") : `${parts.slice(0, maxRanges).join(",")},… (${parts.length})`

/** `topic:partition:first-last` for each batch. */
const batchRange = (b: RecordBatch) =>
  `${b.topic}:${b.partition}:${b.records[0]?.offset ?? "?"}-${b.records[b.records.length - 1]?.offset ?? "?"}`

const span = (name: string, attributes: Attributes) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.withSpan(effect, name, { root: true, attributes })

/** Stage 1 over the events taken together (batches, assignment changes, ticks). */
export const prepareSpan = (pipeline: string, events: ReadonlyArray<SourceEvent | "tick">) => {
  const batches = events.filter((e): e is RecordBatch => e !== "tick" && e._tag === "Batch")
  // Ticks and assignment changes alone are not traced: a quiet pipeline would make a trace a second.
  if (batches.length === 0) return <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
  let records = 0
  for (const b of batches) records += b.records.length
  return span("prepare", {
    "tributary.pipeline": pipeline,
    "tributary.batches": batches.length,
    "tributary.records": records,
    "tributary.offsets": joinCapped(batches.map(batchRange))
  })
}

/**
 * Stage 2 for one step: `items` written, `malformed` rejected; the range from the step's first
 * source record (when items are records) to its commit offset (exclusive).
 */
export const writeSpan = (pipeline: string, step: {
  readonly items: ReadonlyArray<unknown>
  readonly malformed: ReadonlyArray<unknown>
  readonly sources?: ReadonlyArray<{ readonly record: { readonly offset: string } }> | undefined
  readonly offsets: ReadonlyArray<CommitOffset>
  readonly partition: { readonly topic: string; readonly partition: number } | undefined
}) => {
  const first = step.partition === undefined ? undefined : step.sources?.[0]?.record.offset
  return span("write", {
    "tributary.pipeline": pipeline,
    "tributary.items": step.items.length,
    "tributary.malformed": step.malformed.length,
    "tributary.offsets": joinCapped(
      step.offsets.map((o) =>
        `${o.topic}:${o.partition}:${first === undefined ? ".." : `${first}-`}${BigInt(o.offset) - 1n}`
      )
    ),
    ...(step.partition === undefined ? {} : { "messaging.kafka.partition": step.partition.partition })
  })
}

/** Stage 3 for the offsets of an acknowledged step (marked for the committer, committed when due). */
export const applySpan = (pipeline: string, offsets: ReadonlyArray<CommitOffset>) =>
  span("apply", {
    "tributary.pipeline": pipeline,
    "tributary.offsets": joinCapped(offsets.map((o) => `${o.topic}:${o.partition}:<${o.offset}`))
  })
