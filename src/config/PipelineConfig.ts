import { Config } from "effect"
import { literalsAnyCase } from "./AnyCase.ts"
import { inputSettings } from "./SchemaRegistryConfig.ts"

export type DeadLetterPolicy = "dead-letter" | "drop" | "fail"

/** Leaves room under the broker's default 1 MiB message limit for the batch and header overhead. */
export const deadLetterMaxBytes = 900_000

/** What happens to malformed input. Shared by every pipeline. */
export const deadLetterSettings = Config.all({
  policy: literalsAnyCase(["dead-letter", "drop", "fail"], "DEAD_LETTER_POLICY").pipe(
    Config.withDefault<DeadLetterPolicy>("dead-letter")
  ),
  /** Overrides `<source topic>.dlq`. */
  topic: Config.option(Config.String("DEAD_LETTER_TOPIC")),
  /**
   * A dead letter larger than this (key + value + headers) keeps only a prefix of its value, flagged
   * in a header, so that it always fits under the broker's message size limit (1 MiB by default).
   */
  maxRecordBytes: Config.Int("DEAD_LETTER_MAX_BYTES").pipe(Config.withDefault(deadLetterMaxBytes))
})
export type DeadLetterSettings = Config.Success<typeof deadLetterSettings>

/**
 * A Kafka output record (a fingerprint, an alert) larger than this (key + value + headers) is not
 * produced: the broker would refuse it (`max.message.bytes`, 1 MiB by default) on every retry. It is
 * dead-lettered instead, as a prefix with its size and the reason.
 */
export const outputMaxRecordBytes = Config.Int("OUTPUT_MAX_RECORD_BYTES").pipe(Config.withDefault(1_000_000))

/**
 * How far ahead of the processing clock an event time may be. Later ones are dead-lettered: one
 * record dated 2100 would otherwise move the watermark there and make everything after it late.
 */
export const maxFutureSkewMs = Config.Int("MAX_FUTURE_SKEW_SECONDS").pipe(
  Config.withDefault(3_600),
  Config.map((seconds) => seconds * 1_000)
)

/** An environment variable's name and the value used when it is missing. */
type Variable = readonly [name: string, fallback: string]

/**
 * The fields every pipeline's settings start with: the topic it consumes, its consumer group and what
 * happens to malformed input. Spread into the pipeline's `Config.all`.
 */
export const sourceSettings = ([topic, defaultTopic]: Variable, [groupId, defaultGroupId]: Variable) => ({
  topic: Config.String(topic).pipe(Config.withDefault(defaultTopic)),
  groupId: Config.String(groupId).pipe(Config.withDefault(defaultGroupId)),
  deadLetters: deadLetterSettings,
  /** INPUT_FORMAT: JSON, or Confluent-framed Avro with a schema registry (see `inputDecoding`). */
  input: inputSettings
})

/** The `transactions` pipeline (seed 000): names as in the seed's configuration table. */
export const transactionsSettings = Config.all({
  ...sourceSettings(["KAFKA_TOPIC", "transactions"], ["KAFKA_GROUP_ID", "tributary-transactions"]),
  featureGroupName: Config.String("FEATURE_GROUP_NAME").pipe(Config.withDefault("transactions")),
  featureGroupVersion: Config.Int("FEATURE_GROUP_VERSION").pipe(Config.withDefault(1))
})
export type TransactionsSettings = Config.Success<typeof transactionsSettings>
