import { Context, Effect, Layer } from "effect"
import { KafkaClient } from "./KafkaClient.ts"
import { type KafkaError, kafkaError } from "./KafkaError.ts"

export interface TopicSpec {
  readonly topic: string
  readonly partitions: number
  readonly replicationFactor?: number | undefined
  readonly configs?: Readonly<Record<string, string>> | undefined
}

export interface PartitionOffsets {
  readonly partition: number
  readonly low: string
  readonly high: string
}

export interface CommittedOffset {
  readonly partition: number
  /** Undefined when the group has committed nothing for the partition. */
  readonly offset: string | undefined
  readonly metadata: string | undefined
}

export class KafkaAdmin extends Context.Service<KafkaAdmin, {
  /** Creates the topics that do not exist yet; existing ones are left as they are. */
  readonly createTopics: (specs: ReadonlyArray<TopicSpec>) => Effect.Effect<void, KafkaError>
  readonly topicOffsets: (topic: string) => Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaError>
  readonly committedOffsets: (
    groupId: string,
    topic: string
  ) => Effect.Effect<ReadonlyArray<CommittedOffset>, KafkaError>
}>()("tributary/kafka/KafkaAdmin") {
  static readonly layer = Layer.effect(
    KafkaAdmin,
    Effect.gen(function*() {
      const { kafka } = yield* KafkaClient
      const admin = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => {
            const a = kafka.admin()
            return a.connect().then(() => a)
          },
          catch: kafkaError("admin connect")
        }),
        (a) => Effect.promise(() => a.disconnect().catch(() => undefined))
      )
      return KafkaAdmin.of({
        createTopics: (specs) =>
          Effect.tryPromise({
            try: async () => {
              const existing = new Set(await admin.listTopics())
              const missing = specs.filter((s) => !existing.has(s.topic))
              if (missing.length === 0) return
              await admin.createTopics({
                waitForLeaders: true,
                topics: missing.map((s) => ({
                  topic: s.topic,
                  numPartitions: s.partitions,
                  replicationFactor: s.replicationFactor ?? 1,
                  configEntries: Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value }))
                }))
              })
            },
            catch: kafkaError("create topics")
          }),
        topicOffsets: (topic) =>
          Effect.tryPromise({
            try: async () =>
              (await admin.fetchTopicOffsets(topic))
                .map((p) => ({ partition: p.partition, low: p.low, high: p.high }))
                .sort((a, b) => a.partition - b.partition),
            catch: kafkaError(`offsets of ${topic}`)
          }),
        committedOffsets: (groupId, topic) =>
          Effect.tryPromise({
            try: async () => {
              const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
              return (t?.partitions ?? []).map((p) => ({
                partition: p.partition,
                offset: p.offset === "-1" ? undefined : p.offset,
                metadata: p.metadata ?? undefined
              })).sort((a, b) => a.partition - b.partition)
            },
            catch: kafkaError(`committed offsets of ${groupId}`)
          })
      })
    })
  )
}
