/**
 * The one consume loop. Every job (see Job.ts) runs here, in three stages over the subscription's
 * events plus a processing-time tick:
 *
 * 1. **prepare**, strictly in order: count the batches, decode them, run the transform (map, or the
 *    window engine), track assignments. Pure work; no I/O.
 * 2. **write**: dead letters, late records, then the output — each acknowledged before the step is
 *    done. Up to the output's concurrency steps write at once; `aheadOfOutput` steps may be prepared
 *    while a write awaits its acknowledgement.
 * 3. **apply**, strictly in order: mark the offsets of acknowledged steps for the committer, commit
 *    when due, forget revoked partitions. A commit therefore never covers a record whose outputs
 *    (and every earlier one) were not acknowledged: a crash replays at most what was in flight.
 */
import { Clock, Effect, Stream } from "effect"
import { maxFutureSkewMs, outputMaxRecordBytes } from "../config/PipelineConfig.ts"
import { serviceSettings } from "../config/ServiceConfig.ts"
import { MalformedRecord } from "../domain/MalformedRecord.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import type { KafkaError } from "../kafka/KafkaError.ts"
import {
  type AssignedPartition,
  type CommitOffset,
  type GroupMembership,
  type KafkaRecord,
  nextOffset,
  type OutgoingRecord,
  partitionKey,
  type RecordBatch,
  type SourceEvent,
  type TopicPartition
} from "../kafka/KafkaRecord.ts"
import { KafkaSink } from "../kafka/KafkaSink.ts"
import { KafkaSource } from "../kafka/KafkaSource.ts"
import { PipelineRegistry, type PipelineStats } from "../observability/PipelineStats.ts"
import { applySpan, prepareSpan, writeSpan } from "../observability/StageSpans.ts"
import type { SchemaRegistryError } from "../schema-registry/SchemaRegistryError.ts"
import { allTransient, type Classifier, errorText, errorType, retryWith } from "../shared/Retry.ts"
import { deadLetterTopic, handleMalformed, handleOversizeOutputs } from "./DeadLetters.ts"
import type { Job, Rows } from "./Job.ts"
import { makeOffsetCommitter } from "./OffsetCommitter.ts"
import { rejectedKind, type Rejection, writeSettingAside } from "./RejectedItems.ts"
import { makeUnwrittenSteps } from "./UnwrittenSteps.ts"
import { type Assignment, type Step, tick, windowStage } from "./WindowStage.ts"

/**
 * Retries a failure its classifier calls transient with jittered backoff, logging and counting each
 * retry; a permanent failure is handed back at once.
 */
export const retryCounted = <E>(what: string, stats: PipelineStats, classify: Classifier<E> = allTransient) =>
  retryWith<E>({
    classify,
    onRetry: (e) =>
      Effect.andThen(stats.failed(errorType(e)), Effect.logWarning(`${what} failed, retrying: ${errorText(e)}`))
  })

/** Runs a job until interrupted (or until its source ends). */
export const runJob = <A, Item, E, R>(job: Job<A, Item, E, R>) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const sink = yield* KafkaSink
    const stats = yield* (yield* PipelineRegistry).register(job.name)
    const { output, transform } = job
    const { groupId, topics } = job.source
    const windows = transform._tag === "Windowed" ? transform : undefined
    if (windows !== undefined && topics.length !== 1) {
      return yield* Effect.die(new Error(`${job.name}: a windowed job reads exactly one topic`))
    }
    // Whatever the output's own verdicts, a sink naming the items at fault (ItemsRejected) rejects them.
    const classify = rejectedKind<E>(
      output._tag === "KafkaTransaction" || output.classify === undefined ? allTransient : (e) => output.classify!(e)
    )

    yield* ensureOutputTopics(job)

    // Before the consumer joins: a restarted instance fences its predecessor's open transaction
    // before it reads where to start.
    const transaction = output._tag === "KafkaTransaction"
      ? yield* sink.transactional(output.transactionalId)
      : undefined

    // Revoked partitions are written out before the group moves them.
    const unwritten = makeUnwrittenSteps()

    // The source calls `startOffsets` from its own fiber: it runs with the job's services.
    const services = yield* Effect.context<R>()
    const subscription = yield* source.subscribe({
      groupId,
      topics,
      fromBeginning: job.source.fromBeginning,
      partitionsConsumedConcurrently: job.source.parallelism,
      drainRevoked: unwritten.drainRevoked,
      startOffsets: output._tag === "StoredOffsets"
        ? (partitions) =>
          output.startOffsets(partitions).pipe(
            retryCounted("read stored offsets", stats, classify),
            Effect.provideContext(services)
          )
        : undefined
    })
    const owns = subscription.owns
    unwritten.follow(owns)
    const committer = makeOffsetCommitter(subscription, stats, job.commitIntervalMs ?? 1_000)
    stats.attachSource({ groupId, topics, connection: subscription.connection })
    stats.describe({ sources: topics, stages: ["decode", windows ? "windows" : "write"], ...job.topology })
    yield* Effect.logInfo(`pipeline ${job.name} consuming ${topics.join(", ")} as group ${groupId}`)

    const outputLimit = yield* outputMaxRecordBytes
    const sendKafka = (what: string, records: ReadonlyArray<OutgoingRecord>) =>
      sink.send(records).pipe(retryCounted(what, stats))
    const window = windows === undefined
      ? undefined
      : windowStage(windows, topics[0]!, stats, yield* maxFutureSkewMs)

    // ---- stage 1: prepare ----
    const consumed = (batch: RecordBatch) =>
      stats.consumed(batch.records.length, {
        topic: batch.topic,
        partition: batch.partition,
        lastOffset: batch.records[batch.records.length - 1]!.offset
      })

    /** One step for the batches waiting together (a map job whose output takes any partitions). */
    const mapGroup = (batches: ReadonlyArray<RecordBatch>): Step<Item> => {
      const records = batches.length === 1 ? batches[0]!.records : batches.flatMap((b) => b.records)
      const { malformed, valid } = job.decode(records)
      const first = batches[0]!
      const single = batches.every((b) => b.partition === first.partition && b.topic === first.topic)
      return {
        _tag: "Write",
        items: (transform as Extract<typeof transform, { _tag: "Map" }>).map(valid),
        sources: valid,
        malformed,
        lateCount: 0,
        late: [],
        offsets: offsetsAfter(batches),
        partition: single ? { topic: first.topic, partition: first.partition } : undefined
      }
    }

    const onBatch = (batch: RecordBatch, now: number): Step<Item> => {
      if (window === undefined) return mapGroup([batch])
      const { malformed, valid } = job.decode(batch.records)
      return window.process(batch, malformed, valid, now) as Step<Item>
    }

    /** The group membership of the latest assignment: transactions commit each step's offsets as it. */
    let membership: GroupMembership | undefined
    let lastStaleGeneration: number | undefined
    /** Each partition's assignment epoch as of the events prepared so far: a step's offsets carry it. */
    const epochs = new Map<string, number>()
    const withEpochs = (offsets: ReadonlyArray<CommitOffset>) =>
      offsets.map((o) => {
        const epoch = epochs.get(partitionKey(o))
        return epoch === undefined ? o : { ...o, epoch }
      })
    const prepare = (events: ReadonlyArray<SourceEvent | "tick">) =>
      Effect.gen(function*() {
        // Before anything is counted or decoded, so waiting for a registry can be interrupted safely.
        if (job.resolveSchemas !== undefined) {
          yield* Effect.interruptible(
            job.resolveSchemas(events.flatMap((e) => e !== "tick" && e._tag === "Batch" ? e.records : []))
          )
        }
        const now = yield* Clock.currentTimeMillis
        const steps: Array<Step<Item>> = []
        const push = (step: Step<Item>) => {
          if (step._tag !== "Write") return steps.push(step)
          const offsets = withEpochs(step.offsets)
          unwritten.add(offsets)
          return steps.push({ ...step, offsets, ...(membership === undefined ? {} : { membership }) })
        }
        // Partitions the source revoked since (their Revoked event may still be queued behind batches): their
        // state goes now, so nothing more is prepared for them once the group may move them.
        if (window !== undefined) {
          for (const [key, epoch] of epochs) {
            const [topic, partition] = [key.slice(0, key.lastIndexOf(":")), Number(key.slice(key.lastIndexOf(":") + 1))]
            if (owns({ topic, partition, epoch })) continue
            epochs.delete(key)
            window.onAssignment({ _tag: "Revoked", partitions: [{ topic, partition }] }, now)
          }
        }
        // A map job with an at-least-once or transactional output writes waiting batches together.
        const grouping = window === undefined && output._tag !== "StoredOffsets"
        let waiting: Array<RecordBatch> = []
        const flush = () => {
          if (waiting.length > 0) push(mapGroup(waiting))
          waiting = []
        }
        for (const event of events) {
          if (event === "tick") {
            flush()
            push(window === undefined ? tick : window.onTick(now) as Step<Item>)
          } else if (event._tag === "Batch") {
            // Revoked since it was fetched: its new owner reads it.
            if (!owns(event)) continue
            if (event.epoch !== undefined) epochs.set(partitionKey(event), event.epoch)
            yield* consumed(event)
            if (grouping) waiting.push(event)
            else push(onBatch(event, now))
          } else {
            // Assignment changes split groups, so commits before and after them stay in order.
            flush()
            if (event._tag === "Assigned") membership = event.membership
            for (const p of event.partitions) {
              const epoch = event._tag === "Assigned" ? (p as AssignedPartition).epoch : undefined
              if (epoch === undefined) epochs.delete(partitionKey(p))
              else epochs.set(partitionKey(p), epoch)
            }
            for (const warning of window?.onAssignment(event, now) ?? []) yield* Effect.logWarning(warning)
            steps.push({ _tag: "Assignment", event })
          }
        }
        flush()
        return steps
      }).pipe(Effect.uninterruptible, prepareSpan(job.name, events))

    // ---- stage 2: write ----
    const written = (rows: Rows, partition?: TopicPartition) =>
      job.afterWrite === undefined
        ? stats.written(rows, partition)
        : Effect.andThen(stats.written(rows, partition), job.afterWrite(rows))

    /** Dead-letters the records behind items the sink rejected (the dead-letter policy applies). */
    const setAside =
      (sources: ReadonlyArray<{ readonly record: KafkaRecord }>) => (rejected: ReadonlyArray<Rejection>) =>
        handleMalformed(
          stats,
          job.source.deadLetters,
          rejected.map(({ index, reason }) => {
            const { offset, partition, topic } = sources[index]!.record
            const error = new MalformedRecord({ topic, partition, offset, reason: `rejected by the sink: ${reason}` })
            return { record: sources[index]!.record, error }
          }),
          (records) => sendKafka("dead-letter produce", records)
        )

    /**
     * Writes a step's items. With one record per item, items the sink rejects are dead-lettered and
     * the rest written; otherwise (windows) a rejection stops the job like any permanent failure.
     */
    const writeItems = (
      step: Extract<Step<Item>, { _tag: "Write" }>,
      write: (items: ReadonlyArray<Item>, after: number) => Effect.Effect<Rows, E, R>
    ) => {
      const { items, sources } = step
      const attempt = (subset: ReadonlyArray<Item>, after: number) =>
        write(subset, after).pipe(retryCounted(`${job.name} write`, stats, classify))
      const rows = sources === undefined ? attempt(items, items.length) : writeSettingAside(
        items.length,
        (indices, after) => attempt(indices === undefined ? items : indices.map((i) => items[i]!), after),
        classify,
        setAside(sources)
      ).pipe(Effect.map((parts): Rows => (parts.length === 1 ? parts[0]! : parts.flat())))
      return stats.timed("output", rows)
    }

    const writeOutput = (step: Extract<Step<Item>, { _tag: "Write" }>) =>
      Effect.gen(function*() {
        switch (output._tag) {
          case "AtLeastOnce": {
            if (step.items.length > 0) yield* written(yield* writeItems(step, output.write), step.partition)
            return step.offsets
          }
          case "StoredOffsets": {
            // Also for an all-malformed batch: the stored offset must move past it. A partial write
            // (items set aside) stores the offset of the first record it did not handle.
            const end = step.offsets[0]!
            const resumeAt = (after: number) =>
              after >= step.items.length || step.sources === undefined
                ? end
                : { ...end, offset: step.sources[after]!.record.offset }
            yield* written(
              yield* writeItems(step, (items, after) => output.write(items, resumeAt(after))),
              step.partition
            )
            // Kafka's commit only shows lag; the sink's stored offset is the one restarts use.
            return step.offsets
          }
          case "KafkaTransaction": {
            const { records: outputs, rows } = output.toRecords(step.items)
            // Too large for the broker: refused on every retry, so set aside (dead-lettered at least
            // once, as the step's other dead letters) and left out of the transaction.
            const records = yield* handleOversizeOutputs(
              stats,
              job.source.deadLetters,
              topics[0]!,
              outputs,
              outputLimit,
              (r) => sendKafka("dead-letter produce", r)
            )
            if (records.length === 0 && step.offsets.length === 0) return []
            const start = yield* Clock.currentTimeMillis
            const outcome = yield* transaction!.sendAndCommit(records, {
              groupId,
              offsets: step.offsets,
              membership: step.membership
            }).pipe(retryCounted(`${job.name} transaction`, stats))
            if (outcome === "stale") {
              // The group has reassigned some of these partitions since: their new owner writes this output.
              // Those still ours went on past it (cooperative rebalancing keeps them): read them again.
              const kept = step.offsets.filter((o) => step.membership?.owns(o) === true)
              if (kept.length > 0 && subscription.rewind !== undefined) {
                yield* Effect.logInfo(
                  `${job.name}: transaction refused by the group; reading ${
                    kept.map(partitionKey).join(", ")
                  } again from their checkpoints`
                )
                yield* subscription.rewind(kept)
              }
              const generation = step.membership?.generationId
              if (generation !== lastStaleGeneration) {
                lastStaleGeneration = generation
                yield* Effect.logInfo(
                  `${job.name}: the group moved past generation ${generation}: its output still in flight was aborted`
                )
              }
              return []
            }
            yield* stats.committed(step.offsets, (yield* Clock.currentTimeMillis) - start)
            yield* written(rows, step.partition)
            // Committed with the outputs: nothing left to mark.
            return []
          }
        }
      })

    const write = (step: Step<Item>): Effect.Effect<ReadonlyArray<CommitOffset> | Step<Item>, unknown, R> => {
      if (step._tag !== "Write") return Effect.succeed(step)
      // Every partition of it revoked while it waited: its records are the new owner's to write.
      if (step.offsets.length > 0 && !step.offsets.some(owns)) {
        return Effect.sync(() => (unwritten.remove(step.offsets), []))
      }
      return Effect.gen(function*() {
        yield* handleMalformed(
          stats,
          job.source.deadLetters,
          step.malformed,
          (r) => sendKafka("dead-letter produce", r)
        )
        if (step.lateCount > 0) {
          yield* stats.lateArrivals(step.lateCount)
        }
        if (step.late.length > 0) {
          yield* sendKafka("late records produce", step.late)
        }
        return yield* writeOutput(step)
      }).pipe(
        Effect.ensuring(Effect.sync(() => unwritten.remove(step.offsets))),
        // A step that started is finished (written, acknowledged) before shutdown takes effect.
        Effect.uninterruptible,
        writeSpan(job.name, step),
        Effect.annotateLogs(
          step.partition === undefined
            ? { pipeline: job.name }
            : { pipeline: job.name, partition: step.partition.partition }
        )
      )
    }

    // ---- stage 3: apply ----
    const apply = (result: ReadonlyArray<CommitOffset> | Step<Item>): Effect.Effect<void> => {
      if (Array.isArray(result)) {
        return result.length > 0 ? committer.mark(result).pipe(applySpan(job.name, result)) : Effect.void
      }
      const step = result as Step<Item>
      switch (step._tag) {
        case "Tick":
          return committer.flushIfDue
        case "Assignment":
          return step.event._tag === "Revoked"
            ? Effect.andThen(committer.forget(step.event.partitions), trackAssignment(stats, step.event))
            : trackAssignment(stats, step.event)
        case "Write":
          return Effect.void
      }
    }

    const concurrency = output._tag === "AtLeastOnce" ? Math.max(1, output.concurrency ?? 1) : 1
    // Concurrent writes already overlap preparing with writing; a look-ahead on top would only hold
    // more records in memory while a sink is slow.
    const ahead = job.aheadOfOutput ?? (concurrency > 1 ? 0 : 1)
    const prepared = withTicks(subscription.events, job.tickMs).pipe(
      Stream.chunks,
      Stream.mapEffect(prepare),
      Stream.flattenIterable
    )
    return yield* (ahead > 0 ? Stream.buffer(prepared, { capacity: ahead }) : prepared).pipe(
      Stream.mapEffect(write, { concurrency }),
      Stream.runForEach(apply),
      Effect.ensuring(committer.flush)
    ) as Effect.Effect<void, MalformedRecord | KafkaError | SchemaRegistryError | E, R>
  })

/**
 * The source's events, plus a tick every `tickMs` so quiet jobs still commit and close windows. A
 * quarter of the commit interval: offsets marked just after a commit are committed within 0.25 s of
 * the interval's end, not up to a second later (a drained pipeline's last commit waits no longer).
 */
const withTicks = <A, E>(events: Stream.Stream<A, E>, tickMs = 250) =>
  Stream.merge(events, Stream.tick(tickMs).pipe(Stream.map(() => "tick" as const)), { haltStrategy: "left" })

const trackAssignment = (stats: PipelineStats, event: Assignment) =>
  Effect.gen(function*() {
    const names = event.partitions.map((p) => `${p.topic}:${p.partition}`)
    yield* stats.assignment(event._tag, event.partitions)
    yield* Effect.logInfo(`${stats.name}: partitions ${event._tag.toLowerCase()}: ${names.join(", ")}`)
  })

/** The next offset to read after each partition's last batch (one entry per partition). */
const offsetsAfter = (batches: ReadonlyArray<RecordBatch>): Array<CommitOffset> => {
  const byPartition = new Map<string, CommitOffset>()
  for (const b of batches) {
    const offset = nextOffset(b.records[b.records.length - 1]!.offset)
    byPartition.set(partitionKey(b), { topic: b.topic, partition: b.partition, offset })
  }
  return [...byPartition.values()]
}

/** Creates missing topics with the configured partitions and replication (existing ones are left alone). */
export const ensureTopics = (topics: Iterable<string>) =>
  Effect.gen(function*() {
    const unique = [...new Set(topics)]
    if (unique.length === 0) return
    const { replicationFactor, topicPartitions } = yield* serviceSettings
    yield* (yield* KafkaAdmin).createTopics(
      unique.map((topic) => ({ topic, partitions: topicPartitions, replicationFactor }))
    )
  })

/**
 * Creates the topics the job writes besides its output (dead letters, late records) before it
 * consumes: a cluster that does not auto-create topics would otherwise fail the first bad record.
 */
const ensureOutputTopics = (job: Job<any, any, any, any>) => {
  const { deadLetters, topics } = job.source
  return ensureTopics([
    ...(deadLetters.policy === "dead-letter" ? topics.map((t) => deadLetterTopic(deadLetters, t)) : []),
    ...(job.transform._tag === "Windowed" && job.transform.lateTopic !== undefined ? [job.transform.lateTopic] : [])
  ])
}
