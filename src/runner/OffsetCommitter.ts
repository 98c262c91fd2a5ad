import { Clock, Effect } from "effect"
import type { KafkaError } from "../kafka/KafkaError.ts"
import { type CommitOffset, partitionKey } from "../kafka/KafkaRecord.ts"
import type { Subscription } from "../kafka/KafkaSource.ts"
import type { PipelineStats } from "../observability/PipelineStats.ts"

/**
 * Commits offsets the pipeline has marked safe, at most once per `intervalMs` (a commit is a broker
 * round trip; one per batch would cap throughput on small batches), and always on `flush` — which the
 * runner calls on shutdown. Only offsets whose records every sink acknowledged are ever marked, so
 * coalescing can delay a commit (more replay after a crash) but never commit too early.
 *
 * On revocation the revoked partitions' pending offsets are forgotten, not flushed: the runner learns
 * of it once the group is rebalancing or has rebalanced, when such a commit could set the new owner's
 * commit back. The new owner then restores an older checkpoint than the rows written; for a windowed
 * job that costs replay only (docs/window-semantics.md, "Restoring from an older checkpoint").
 */
export const makeOffsetCommitter = (subscription: Subscription, stats: PipelineStats, intervalMs: number) => {
  const pending = new Map<string, CommitOffset>()
  let lastCommitAt = 0

  const flush: Effect.Effect<void> = Effect.suspend(() => {
    if (pending.size === 0) return Effect.void
    const offsets = [...pending.values()]
    pending.clear()
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      lastCommitAt = now
      return subscription.commit(offsets).pipe(
        Effect.tap(() => Effect.flatMap(Clock.currentTimeMillis, (end) => stats.committed(offsets, end - now))),
        Effect.catch((e: KafkaError) =>
          Effect.suspend(() => {
            // Tried again at the next commit, unless a later offset replaces it (or the partition moves:
            // the source then skips it). A failed commit during a rebalance would otherwise wait for new input.
            for (const o of offsets) if (!pending.has(partitionKey(o))) pending.set(partitionKey(o), o)
            return Effect.andThen(
              stats.failed("commit"),
              Effect.logWarning(`commit failed (retried with the next commit): ${e.message}`)
            )
          })
        )
      )
    })
  })

  return {
    /** Records that these offsets (next offset to read, per partition) are safe to commit. */
    mark: (offsets: ReadonlyArray<CommitOffset>) =>
      Effect.suspend(() => {
        for (const o of offsets) pending.set(partitionKey(o), o)
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => (now - lastCommitAt >= intervalMs ? flush : Effect.void)
        )
      }),
    /** Commits what is pending if the interval has passed (for a timer while the stream is quiet). */
    flushIfDue: Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => (now - lastCommitAt >= intervalMs ? flush : Effect.void)
    ),
    flush,
    /** Forgets pending offsets of partitions this consumer no longer owns (their new owner replays from
     * the last commit). */
    forget: (partitions: ReadonlyArray<{ readonly topic: string; readonly partition: number }>) =>
      Effect.sync(() => partitions.forEach((p) => pending.delete(partitionKey(p))))
  }
}

export type OffsetCommitter = ReturnType<typeof makeOffsetCommitter>
