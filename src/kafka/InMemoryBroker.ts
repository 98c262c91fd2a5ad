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
 * A Kafka broker in process memory: partitioned logs, consumer groups with sticky cooperative assignment
 * and committed offsets (with metadata), headers, and atomic "transactions". It implements the same
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
  /** The group's generation at this member's latest assignment. */
  generation: number
  /** Partitions waiting for their start offsets (kept outside Kafka), with the lookup's token. */
  readonly lookups: Map<string, number>
}

/** A partition being assigned, with where its fetching starts. */
type Starting = AssignedPartition & { readonly start: bigint }

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
  private lastLookup = 0
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

  /** A member's membership in its group, live: it commits as its current generation what it still owns. */
  private membershipOf(groupId: string, member: Member): GroupMembership {
    return {
      groupId,
      get generationId() {
        return member.generation
      },
      memberId: String(member.id),
      owns: (offset) => member.buffer.isCurrent(offset),
      commitInTransaction: async (_transaction, offsets) => {
        if (!offsets.every((o) => member.buffer.isCurrent(o))) throw new Error("ILLEGAL_GENERATION")
        this.commit(groupId, offsets)
      }
    }
  }

  commit(groupId: string, offsets: ReadonlyArray<CommitOffset>, onlyOwnedBy?: Member): void {
    const group = this.group(groupId)
    for (const o of offsets) {
      if (onlyOwnedBy !== undefined && !onlyOwnedBy.buffer.isCurrent(o)) continue
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
        generation: 0,
        lookups: new Map()
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
      const subscription = buffer.subscription((offsets: ReadonlyArray<CommitOffset>) =>
        Effect.sync(() => self.commit(options.groupId, offsets, member))
      )
      return {
        ...subscription,
        rewind: (partitions: ReadonlyArray<TopicPartition>) => Effect.sync(() => self.rewind(group, member, partitions))
      }
    })
  }

  sink(): KafkaSink["Service"] {
    return KafkaSink.of({
      send: (records) => this.guard("produce", () => this.append(records)),
      transactional: () =>
        Effect.succeed({
          sendAndCommit: (records, { groupId, membership, offsets }) =>
            this.guard("transaction", () => {
              // As Kafka's coordinator does (KIP-447): offsets of partitions the member lost are refused.
              if (membership !== undefined && !offsets.every(membership.owns)) return "stale" as const
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

  /**
   * Sticky assignment, as Kafka's cooperative-sticky assignor: each topic's partitions are shared out
   * evenly, members keep what they hold up to their share (those holding most get the larger shares),
   * and only the rest moves. Kept partitions go on from where they are; only moved ones are revoked.
   */
  private rebalance(group: Group): void {
    const members = [...group.members.values()].sort((a, b) => a.id - b.id)
    const next = new Map<number, Array<TopicPartition>>(members.map((m) => [m.id, []]))
    const topics = [...new Set(members.flatMap((m) => m.options.topics))].sort()
    for (const topic of topics) {
      const count = this.logs.get(topic)?.length ?? 0
      const held = (m: Member) =>
        m.assignment.filter((tp) => tp.topic === topic && tp.partition < count).map((tp) => tp.partition)
      const subscribers = members.filter((m) => m.options.topics.includes(topic))
        .sort((a, b) => held(b).length - held(a).length || a.id - b.id)
      const share = (i: number) => Math.floor(count / subscribers.length) + (i < count % subscribers.length ? 1 : 0)
      const taken = new Set<number>()
      subscribers.forEach((m, i) => {
        for (const partition of held(m).slice(0, share(i))) {
          next.get(m.id)!.push({ topic, partition })
          taken.add(partition)
        }
      })
      const free = Array.from({ length: count }, (_, p) => p).filter((p) => !taken.has(p))
      subscribers.forEach((m, i) => {
        const mine = next.get(m.id)!
        while (mine.filter((tp) => tp.topic === topic).length < share(i)) mine.push({ topic, partition: free.shift()! })
      })
    }
    group.generation++
    for (const m of members) {
      const assignment = next.get(m.id)!
      const before = new Set(m.assignment.map(partitionKey))
      const after = new Set(assignment.map(partitionKey))
      this.release(m, m.assignment.filter((tp) => !after.has(partitionKey(tp))))
      m.assignment = assignment
      m.generation = group.generation
      this.start(group, m, assignment.filter((tp) => !before.has(partitionKey(tp))))
    }
    this.notify()
  }

  /** Stops fetching partitions and revokes them from the member. */
  private release(member: Member, partitions: ReadonlyArray<TopicPartition>): void {
    for (const tp of partitions) {
      member.positions.delete(partitionKey(tp))
      member.lookups.delete(partitionKey(tp))
    }
    member.buffer.revoke(partitions)
  }

  /** Assigns partitions at the group's commit, or at offsets kept outside Kafka once they are known. */
  private start(group: Group, member: Member, partitions: ReadonlyArray<TopicPartition>): void {
    if (partitions.length === 0) return
    const assigned = partitions.map((tp): Starting => {
      const c = group.committed.get(partitionKey(tp))
      const start = c !== undefined ? BigInt(c.offset) : member.options.fromBeginning === false ? this.end(tp) : 0n
      return {
        ...tp,
        committedOffset: c?.offset,
        committedMetadata: c?.metadata,
        caughtUp: start >= this.end(tp),
        start
      }
    })
    if (member.options.startOffsets === undefined) this.assign(member, assigned)
    else void this.applyStartOffsets(member, assigned, member.options.startOffsets)
  }

  private end(tp: TopicPartition): bigint {
    return BigInt(this.logs.get(tp.topic)?.[tp.partition]?.length ?? 0)
  }

  private assign(member: Member, assigned: ReadonlyArray<Starting>): void {
    member.buffer.assign(assigned.map(({ start: _, ...p }) => p), this.membershipOf(member.options.groupId, member))
    for (const p of assigned) member.positions.set(partitionKey(p), p.start)
    this.notify()
  }

  /** Partitions read again from the group's commit, as if revoked and assigned again. */
  private rewind(group: Group, member: Member, partitions: ReadonlyArray<TopicPartition>): void {
    const kept = partitions.filter((tp) => member.buffer.isAssigned(tp))
    this.release(member, kept)
    this.start(group, member, kept)
  }

  /** Offsets kept outside Kafka override the group's commits; nothing is fetched until they are known. */
  private async applyStartOffsets(
    member: Member,
    assigned: ReadonlyArray<Starting>,
    startOffsets: NonNullable<SubscribeOptions["startOffsets"]>
  ): Promise<void> {
    const token = ++this.lastLookup
    for (const p of assigned) member.lookups.set(partitionKey(p), token)
    try {
      const external = await member.runPromise(startOffsets(assigned))
      const wanted = assigned.filter((p) => member.lookups.get(partitionKey(p)) === token)
      for (const p of wanted) member.lookups.delete(partitionKey(p))
      this.assign(
        member,
        wanted.map((p) => {
          const external$ = external.find((e) => e.topic === p.topic && e.partition === p.partition)
          if (external$ === undefined) return p
          const start = BigInt(external$.offset)
          return {
            ...p,
            committedOffset: external$.offset,
            committedMetadata: undefined,
            caughtUp: start >= this.end(p),
            start
          }
        })
      )
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
