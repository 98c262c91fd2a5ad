import { Config, Option } from "effect"
import { booleanAnyCase } from "./AnyCase.ts"
import { sourceSettings } from "./PipelineConfig.ts"

/**
 * The `card-aggregates` pipeline (seed 001): credit-card transactions → per card and sliding
 * event-time window, count / mean / sample std-dev of the amount → feature group
 * `card_transactions_10m_agg`.
 */
export const cardAggregatesSettings = Config.all({
  ...sourceSettings(
    ["CARD_TRANSACTIONS_TOPIC", "credit_card_transactions"],
    ["CARD_AGGREGATES_GROUP_ID", "tributary-card-aggregates"]
  ),
  featureGroupName: Config.String("CARD_FEATURE_GROUP_NAME").pipe(Config.withDefault("card_transactions_10m_agg")),
  featureGroupVersion: Config.Int("CARD_FEATURE_GROUP_VERSION").pipe(Config.withDefault(1)),
  windowLengthMinutes: Config.Int("WINDOW_LENGTH_MINUTES").pipe(Config.withDefault(10)),
  windowSlideMinutes: Config.Int("WINDOW_SLIDE_MINUTES").pipe(Config.withDefault(1)),
  outOfOrdernessSeconds: Config.Number("OUT_OF_ORDERNESS_SECONDS").pipe(Config.withDefault(60)),
  /**
   * A partition without records for this long (processing time) stops holding the watermark back,
   * so a partition that receives nothing cannot block every window forever.
   */
  idleTimeoutSeconds: Config.Number("IDLE_TIMEOUT_SECONDS").pipe(Config.withDefault(300)),
  allowedLatenessSeconds: Config.Number("ALLOWED_LATENESS_SECONDS").pipe(Config.withDefault(0)),
  /** Emit `num_trans_per_10m = 0` once in the window after a card's activity stops. */
  emitEmptyWindows: booleanAnyCase("EMIT_EMPTY_WINDOWS").pipe(Config.withDefault(true)),
  /** Records later than the allowed lateness are always counted; with this set they are also produced here. */
  lateRecordsTopic: Config.option(Config.String("LATE_RECORDS_TOPIC")).pipe(
    Config.map((o) => Option.filter(o, (s) => s.trim().length > 0))
  ),
  /**
   * Adds `window_start` (bigint, the event-time feature) to the feature group. Off by default: the
   * seed's feature group has only `cc_num` and the three aggregates (see CardAggregateRow).
   */
  windowStartFeature: booleanAnyCase("CARD_WINDOW_START_FEATURE").pipe(Config.withDefault(false))
})
export type CardAggregatesSettings = Config.Success<typeof cardAggregatesSettings>

/** Source topic set-up (`setup topic`): partitions and replicas when it is created. */
export const cardTopicSettings = Config.all({
  topic: Config.String("CARD_TRANSACTIONS_TOPIC").pipe(Config.withDefault("credit_card_transactions")),
  partitions: Config.Int("KAFKA_TOPIC_PARTITIONS").pipe(Config.withDefault(3)),
  replicationFactor: Config.Int("KAFKA_REPLICATION_FACTOR").pipe(Config.withDefault(1))
})
export type CardTopicSettings = Config.Success<typeof cardTopicSettings>

/** Simulator knobs specific to card transactions (rate, count, seed come from SimulatorConfig). */
export const cardSimulatorSettings = Config.all({
  /** Records are published with an event time up to this many seconds in the past (disorder). */
  maxDelaySeconds: Config.Number("CARD_SIMULATOR_MAX_DELAY_SECONDS").pipe(Config.withDefault(0)),
  /** Share of records published far in the past (later than the watermark: late records). */
  lateShare: Config.Number("CARD_SIMULATOR_LATE_SHARE").pipe(Config.withDefault(0)),
  cards: Config.Int("CARD_SIMULATOR_CARDS").pipe(Config.withDefault(1000))
})
export type CardSimulatorSettings = Config.Success<typeof cardSimulatorSettings>
