import { Clock, Context, Effect, Layer } from "effect"
import { KafkaAdmin, type TopicSpec } from "./KafkaAdmin.ts"
import { KafkaError } from "./KafkaError.ts"
import {
  type AssignedPartition,
  type CommitOffset,
  type GroupMembership,
  type KafkaRecord,
  type OutgoingRecord,
  partitionKey,
  type TopicPartition
} from "./KafkaRecord.ts"
import { KafkaSink } from "./KafkaSink.ts"
import { KafkaSource, type SubscribeOptions } from "./KafkaSource.ts"
import { partitionForKey } from "./KeyPartitioner.ts"
import { SubscriptionBuffer } from "./SubscriptionBuffer.ts"

/**
 * A Kafka broker in process memory: partitioned logs, consumer groups with range assignment and
 * committed offsets (with metadata), headers, and atomic "transactions". It implements the same
 * KafkaSource / KafkaSink / KafkaAdmin services as the kafkajs layers, for unit tests and the demo.
 */
export class InMemoryBroker extends Context.Service<InMemoryBroker, BrokerState>()("tributary/kafka/InMemoryBroker") {
  static readonly layer = (options?: { readonly defaultPartitions?: number; readonly maxBatchSize?: number }) =>
    Layer.effect(
      InMemoryBroker,
      // Record timestamps come from the Clock in context, so tests under TestClock see virtual time.
      Effect.map(
        Clock.Clock,
        (clock) =>
          new BrokerState(
            options?.defaultPartitions ?? 1,
            options?.maxBatchSize ?? 500,
            () => clock.currentTimeMillisUnsafe()
          )
      )
    )

  /** KafkaSource, KafkaSink and KafkaAdmin over the broker in context. */
  static readonly layerKafka = Layer.mergeAll(
    Layer.effect(KafkaSource, Effect.map(InMemoryBroker, (b) => KafkaSource.of({ subscribe: (o) => b.subscribe(o) }))),
    Layer.effect(KafkaSink, Effect.map(InMemoryBroker, (b) => b.sink())),
    Layer.effect(KafkaAdmin, Effect.map(InMemoryBroker, (b) => b.admin()))
  )

  /** A fresh broker with the Kafka services on top, the broker itself exposed for inspection. */
  static readonly layerWithKafka = (
    options?: { readonly defaultPartitions?: number; readonly maxBatchSize?: number }
  ) => InMemoryBroker.layerKafka.pipe(Layer.provideMerge(InMemoryBroker.layer(options)))
}

interface Member {
  readonly id: number
  readonly runPromise: <A>(effect: Effect.Effect<A, unknown>) => Promise<A>
  readonly options: SubscribeOptions
  readonly buffer: SubscriptionBuffer
  readonly positions: Map<string, bigint>
  assignment: Array<TopicPartition>
  /** The group's generation at this member's latest assignment: an answer for an older one is ignored. */
  generation: number
}

interface Group {
  readonly committed: Map<string, { offset: string; metadata: string | undefined }>
  readonly members: Map<number, Member>
  /** The group's generation, bumped by every rebalance (as Kafka's coordinator does). */
  generation: number
}

export class BrokerState {
  private readonly logs = new Map<string, Array<Array<KafkaRecord>>>()
  private readonly groups = new Map<string, Group>()
  /** Unkeyed records rotate over partitions, per topic. */
  private readonly roundRobin = new Map<string, number>()
  private waiters: Array<() => void> = []
  private nextMemberId = 0
  readonly defaultPartitions: number
  readonly maxBatchSize: number

  private readonly now: () => number

  constructor(defaultPartitions: number, maxBatchSize: number, now: () => number) {
    this.defaultPartitions = defaultPartitions
    this.maxBatchSize = maxBatchSize
    this.now = now
  }

  createTopic(spec: TopicSpec): void {
    if (!this.logs.has(spec.topic)) {
      this.logs.set(spec.topic, Array.from({ length: spec.partitions }, () => []))
      this.rebalanceSubscribers(spec.topic)
    }
  }

  /** All records of a topic, partition by partition, for assertions. */
  read(topic: string): ReadonlyArray<ReadonlyArray<KafkaRecord>> {
    return this.logs.get(topic) ?? []
  }

  committed(groupId: string, tp: TopicPartition) {
    return this.groups.get(groupId)?.committed.get(partitionKey(tp))
  }

  append(records: ReadonlyArray<OutgoingRecord>): void {
    for (const r of records) {
      const log = this.log(r.topic)
      const key = toBuffer(r.key ?? null)
      const partition = r.partition ?? this.partitionFor(r.topic, log.length, key)
      const target = log[partition]
      if (target === undefined) throw new Error(`topic ${r.topic} has no partition ${partition}`)
      const headers: Record<string, Buffer> = {}
      for (const [k, v] of Object.entries(r.headers ?? {})) headers[k] = toBuffer(v) ?? Buffer.alloc(0)
      target.push({
        topic: r.topic,
        partition,
        offset: String(target.length),
        timestamp: r.timestamp ?? this.now(),
        key,
        value: toBuffer(r.value),
        headers
      })
    }
    this.notify()
  }

  /** A member's membership in its group as of now. */
  private membershipOf(groupId: string, member: Member): GroupMembership {
    return {
      groupId,
      generationId: member.generation,
      memberId: String(member.id),
      commitInTransaction: async (_transaction, offsets) => {
        if (!this.isCurrent(this.membershipOf(groupId, member))) throw new Error("ILLEGAL_GENERATION")
        this.commit(groupId, offsets)
      }
    }
  }

  private isCurrent(membership: GroupMembership): boolean {
    return this.group(membership.groupId).members.get(Number(membership.memberId))?.generation ===
      membership.generationId
  }

  commit(groupId: string, offsets: ReadonlyArray<CommitOffset>, onlyOwnedBy?: Member): void {
    const group = this.group(groupId)
    for (const o of offsets) {
      if (onlyOwnedBy !== undefined && !onlyOwnedBy.buffer.isAssigned(o)) continue
      group.committed.set(partitionKey(o), { offset: o.offset, metadata: o.metadata })
    }
  }

  subscribe(options: SubscribeOptions) {
    // oxlint-disable-next-line typescript/no-this-alias -- the generator needs the broker, not its own `this`
    const self = this
    return Effect.gen(function*() {
      const buffer = yield* SubscriptionBuffer.make(options.maxBufferedRecords ?? 10_000, options.maxBufferedBytes)
      const runPromise = Effect.runPromiseWith(yield* Effect.context<never>())
      const member: Member = {
        id: self.nextMemberId++,
        runPromise,
        options,
        buffer,
        positions: new Map(),
        assignment: [],
        generation: 0
      }
      const group = self.group(options.groupId)
      let running = true
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          for (const t of options.topics) self.log(t)
          group.members.set(member.id, member)
          self.rebalance(group)
          void self.fetchLoop(member, () => running)
        }),
        () =>
          Effect.sync(() => {
            running = false
            buffer.close()
            group.members.delete(member.id)
            self.rebalance(group)
          })
      )
      return buffer.subscription((offsets: ReadonlyArray<CommitOffset>) =>
        Effect.sync(() => self.commit(options.groupId, offsets, member))
      )
    })
  }

  sink(): KafkaSink["Service"] {
    return KafkaSink.of({
      send: (records) => this.guard("produce", () => this.append(records)),
      transactional: () =>
        Effect.succeed({
          sendAndCommit: (records, { groupId, membership, offsets }) =>
            this.guard("transaction", () => {
              // As Kafka's coordinator does (KIP-447): offsets of a generation that is over are refused.
              if (membership !== undefined && !this.isCurrent(membership)) return "stale" as const
              this.append(records)
              this.commit(groupId, offsets)
              return "committed" as const
            })
        })
    })
  }

  admin(): KafkaAdmin["Service"] {
    return KafkaAdmin.of({
      createTopics: (specs) => Effect.sync(() => specs.forEach((s) => this.createTopic(s))),
      topicOffsets: (topic) =>
        Effect.sync(() =>
          (this.logs.get(topic) ?? []).map((p, partition) => ({ partition, low: "0", high: String(p.length) }))
        ),
      committedOffsets: (groupId, topic) =>
        Effect.sync(() =>
          (this.logs.get(topic) ?? []).map((_, partition) => {
            const c = this.committed(groupId, { topic, partition })
            return { partition, offset: c?.offset, metadata: c?.metadata }
          })
        )
    })
  }

  private guard<A>(operation: string, f: () => A) {
    return Effect.try({
      try: f,
      catch: (cause) => new KafkaError({ operation, message: String(cause), cause })
    })
  }

  private log(topic: string): Array<Array<KafkaRecord>> {
    let log = this.logs.get(topic)
    if (log === undefined) {
      log = Array.from({ length: this.defaultPartitions }, () => [])
      this.logs.set(topic, log)
      this.rebalanceSubscribers(topic)
    }
    return log
  }

  private partitionFor(topic: string, partitions: number, key: Buffer | null): number {
    if (key !== null) return partitionForKey(key, partitions)
    const next = (this.roundRobin.get(topic) ?? -1) + 1
    this.roundRobin.set(topic, next)
    return next % partitions
  }

  private group(groupId: string): Group {
    let group = this.groups.get(groupId)
    if (group === undefined) {
      group = { committed: new Map(), members: new Map(), generation: 0 }
      this.groups.set(groupId, group)
    }
    return group
  }

  /** A new topic changes only the assignments of groups subscribed to it. */
  private rebalanceSubscribers(topic: string): void {
    for (const g of this.groups.values()) {
      if ([...g.members.values()].some((m) => m.options.topics.includes(topic))) this.rebalance(g)
    }
  }

  /** Range assignment, like Kafka's default: each topic's partitions split into contiguous runs. */
  private rebalance(group: Group): void {
    const members = [...group.members.values()].sort((a, b) => a.id - b.id)
    const next = new Map<number, Array<TopicPartition>>(members.map((m) => [m.id, []]))
    const topics = [...new Set(members.flatMap((m) => m.options.topics))].sort()
    for (const topic of topics) {
      const subscribers = members.filter((m) => m.options.topics.includes(topic))
      const count = this.logs.get(topic)?.length ?? 0
      const per = Math.floor(count / subscribers.length)
      const extra = count % subscribers.length
      let partition = 0
      subscribers.forEach((m, i) => {
        const n = per + (i < extra ? 1 : 0)
        for (let k = 0; k < n; k++) next.get(m.id)!.push({ topic, partition: partition++ })
      })
    }
    group.generation++
    for (const m of members) {
      const assignment = next.get(m.id)!
      m.assignment = assignment
      m.generation = group.generation
      m.positions.clear()
      const assigned: Array<AssignedPartition> = assignment.map((tp) => {
        const c = group.committed.get(partitionKey(tp))
        const start = c !== undefined
          ? BigInt(c.offset)
          : m.options.fromBeginning === false
          ? BigInt(this.logs.get(tp.topic)?.[tp.partition]?.length ?? 0)
          : 0n
        m.positions.set(partitionKey(tp), start)
        const end = BigInt(this.logs.get(tp.topic)?.[tp.partition]?.length ?? 0)
        return {
          topic: tp.topic,
          partition: tp.partition,
          committedOffset: c?.offset,
          committedMetadata: c?.metadata,
          caughtUp: start >= end
        }
      })
      if (m.options.startOffsets === undefined) m.buffer.reassign(assigned, this.membershipOf(m.options.groupId, m))
      else void this.applyStartOffsets(m, assigned, m.options.startOffsets)
    }
    this.notify()
  }

  /** Offsets kept outside Kafka override the group's commits; nothing is fetched until they are known. */
  private async applyStartOffsets(
    member: Member,
    assigned: ReadonlyArray<AssignedPartition>,
    startOffsets: NonNullable<SubscribeOptions["startOffsets"]>
  ): Promise<void> {
    const assignment = member.assignment
    const generation = member.generation
    member.assignment = []
    member.buffer.revokeAll()
    try {
      const external = await member.runPromise(startOffsets(assignment))
      if (member.generation !== generation) return
      const withStart = assigned.map((p) => {
        const start = external.find((e) => e.topic === p.topic && e.partition === p.partition)
        if (start === undefined) return p
        member.positions.set(partitionKey(p), BigInt(start.offset))
        const end = BigInt(this.logs.get(p.topic)?.[p.partition]?.length ?? 0)
        return {
          ...p,
          committedOffset: start.offset,
          committedMetadata: undefined,
          caughtUp: BigInt(start.offset) >= end
        }
      })
      member.assignment = assignment
      member.buffer.reassign(withStart, this.membershipOf(member.options.groupId, member))
      this.notify()
    } catch (cause) {
      member.buffer.fail(new KafkaError({ operation: "fetch start offsets", message: String(cause), cause }))
    }
  }

  private async fetchLoop(member: Member, running: () => boolean): Promise<void> {
    while (running()) {
      let delivered = false
      for (const tp of member.assignment) {
        const key = partitionKey(tp)
        const position = member.positions.get(key)
        const log = this.logs.get(tp.topic)?.[tp.partition]
        if (position === undefined || log === undefined || position >= BigInt(log.length)) continue
        const epoch = member.buffer.epochOf(tp)
        const records = log.slice(Number(position), Number(position) + this.maxBatchSize)
        const ok = await member.buffer.offer({ _tag: "Batch", ...tp, records }, epoch)
        if (ok && member.buffer.epochOf(tp) === epoch) {
          member.positions.set(key, position + BigInt(records.length))
          delivered = true
        }
      }
      if (!delivered && running()) await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

const toBuffer = (v: Buffer | string | null): Buffer | null =>
  v === null ? null : typeof v === "string" ? Buffer.from(v, "utf8") : v
