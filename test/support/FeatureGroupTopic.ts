import avro from "avsc"
import { type Duration, Effect, Stream } from "effect"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { uniqueName } from "./TestKafka.ts"

/**
 * Reads a topic from the beginning with a fresh group until `until(records)` holds (or times out).
 * For assertions on what a pipeline wrote.
 */
export const readTopic = (
  topic: string,
  until: (records: ReadonlyArray<KafkaRecord>) => boolean,
  timeout: Duration.Input = "90 seconds"
) =>
  Effect.scoped(Effect.gen(function*() {
    // The topic may not exist yet (a dead-letter topic before its first record).
    yield* (yield* KafkaAdmin).createTopics([{ topic, partitions: 1 }])
    const source = yield* KafkaSource
    const sub = yield* source.subscribe({ groupId: uniqueName("reader"), topics: [topic] })
    const records: Array<KafkaRecord> = []
    if (until(records)) return records
    yield* sub.events.pipe(
      Stream.filter((e) => e._tag === "Batch"),
      Stream.takeUntil((e) => {
        if (e._tag === "Batch") records.push(...e.records)
        return until(records)
      }),
      Stream.runDrain,
      Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.void })
    )
    return records
  }))

/**
 * Everything produced to a topic, read from the beginning with a fresh group in the background of the
 * current scope, raw, in arrival order: the returned array fills up while the test runs.
 */
export const collectTopic = (topic: string) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const records: Array<KafkaRecord> = []
    const sub = yield* source.subscribe({ groupId: uniqueName("collector"), topics: [topic] })
    yield* Effect.forkScoped(
      sub.events.pipe(Stream.runForEach((e) => Effect.sync(() => e._tag === "Batch" && records.push(...e.records))))
    )
    return records
  })

/**
 * An Avro reader for a feature group's subject schema, built here with avsc directly and independent
 * of the writer under test: unions of null and one type decode to the plain value.
 */
export const subjectDecoder = (subjectSchema: string) => {
  const type = avro.Type.forSchema(JSON.parse(subjectSchema) as avro.Schema)
  return (value: Buffer): Record<string, unknown> => ({ ...(type.fromBuffer(value) as Record<string, unknown>) })
}
