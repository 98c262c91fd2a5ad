/**
 * Steps prepared and not yet written, counted per partition and the epoch their records were read
 * under. Before the source lets the group move a revoked partition to another member, it waits for
 * `drainRevoked`: nothing read from a partition this member no longer owns is left unwritten
 * (docs/runner.md, "Stages").
 */
import type { CommitOffset } from "../kafka/KafkaRecord.ts"
import { partitionKey } from "../kafka/KafkaRecord.ts"
import type { Subscription } from "../kafka/KafkaSource.ts"

export interface UnwrittenSteps {
  /** A step was prepared from records of these partitions. */
  readonly add: (offsets: ReadonlyArray<CommitOffset>) => void
  /** That step was written (or dropped). */
  readonly remove: (offsets: ReadonlyArray<CommitOffset>) => void
  /** Resolves once no step from a partition that `owns` disowns is left unwritten. */
  readonly drainRevoked: () => Promise<void>
  /** The subscription's view of what this member owns; until then, it owns everything. */
  readonly follow: (owns: Subscription["owns"]) => void
}

export const makeUnwrittenSteps = (): UnwrittenSteps => {
  const counts = new Map<string, { readonly offset: CommitOffset; count: number }>()
  let waiters: Array<() => void> = []
  let owns: Subscription["owns"] = ownsEverything
  const isDrained = () => {
    for (const { offset } of counts.values()) if (!owns(offset)) return false
    return true
  }
  const count = (offsets: ReadonlyArray<CommitOffset>, delta: 1 | -1) => {
    for (const o of offsets) {
      const key = `${partitionKey(o)}@${o.epoch ?? ""}`
      const entry = counts.get(key) ?? { offset: o, count: 0 }
      entry.count += delta
      if (entry.count > 0) counts.set(key, entry)
      else counts.delete(key)
    }
  }
  return {
    add: (offsets) => count(offsets, 1),
    remove: (offsets) => {
      count(offsets, -1)
      if (waiters.length > 0 && isDrained()) {
        const woken = waiters
        waiters = []
        for (const w of woken) w()
      }
    },
    drainRevoked: () => new Promise<void>((resolve) => (isDrained() ? resolve() : waiters.push(resolve))),
    follow: (subscriptionOwns) => {
      owns = subscriptionOwns
    }
  }
}

const ownsEverything: Subscription["owns"] = () => true
