/**
 * Seed 001: credit-card transactions → per `cc_num` and sliding event-time window (WINDOW_LENGTH
 * over WINDOW_SLIDE, 10 over 1 minute by default) the count, mean and SAMPLE standard deviation of
 * the amount → feature group `card_transactions_10m_agg` (primary key `cc_num`, online enabled).
 *
 * Built on the pure window engine (`sliding` assigner, `Aggregator.moments`: one Welford accumulator
 * per key-window gives count, mean and sample std-dev; std-dev is null below two values) and
 * the runner's windowed job (decode → engine → feature-group write → commit of the safe offset with the
 * watermark in the commit metadata; at-least-once, so a replay after a crash re-writes rows that
 * upsert to the same values).
 *
 * ## Which row wins in the online store
 * The online store keeps ONE row per primary key (`cc_num`): the last one written. Rows are keyed by
 * `cc_num`, so all rows of a card go to one partition of the feature group's topic, in the order we
 * write them, and the engine's fired output is sorted by window end. With ALLOWED_LATENESS_SECONDS = 0
 * (the default) a window is emitted once and purged, and every later firing of a card has a later
 * window end (an "empty" firing included: it is the window right after the card's last active one).
 * So per card the written windows strictly advance and the newest window wins, with no extra state.
 *
 * With ALLOWED_LATENESS_SECONDS > 0 a late record re-fires ("update") windows that were already
 * emitted, possibly after a NEWER window of the same card was written; written as is, the old
 * window's row would replace the newer one online. We therefore drop an update whose window is older
 * than the newest window already written for that card (`makeNewestWindowGuard`). That state is one
 * number per recently active card, pruned once the watermark makes updates impossible, and it is not
 * restored after a restart (a restarted process may let one such stale update through). When
 * CARD_WINDOW_START_FEATURE is on, every window is a distinct offline row (event time
 * `window_start`), so nothing is dropped: the offline history gets the corrected windows, and the
 * online row may show an updated older window until the card's next window fires.
 */
import { Effect, Option } from "effect"
import {
  type CardAggregatesSettings,
  cardAggregatesSettings,
  cardSimulatorSettings
} from "../../config/CardAggregatesConfig.ts"
import {
  cardAggregateFeatures,
  cardAggregateFeaturesWithWindow,
  type CardAggregateRow,
  CardTransaction
} from "../../domain/CardTransaction.ts"
import {
  Aggregator,
  classifyFeatureGroupWrite,
  definePipeline,
  type FeatureGroupSpec,
  FeatureStore,
  type Firing,
  inputDecoding,
  jsonBatchDecoder,
  type KafkaRecord,
  makeWindowEngine,
  PipelineRegistry,
  runPipelineWith,
  sliding,
  windowedJob,
  type WindowEngine,
  type WindowRecord
} from "../../index.ts"
import { CardTransactionsSimulator } from "../../simulator/CardTransactionsSimulator.ts"

export const decodeCardTransactions = jsonBatchDecoder(CardTransaction)

export type CardEngine = WindowEngine<number, number, Aggregator.MomentsResult>
export type CardFiring = Firing<number, Aggregator.MomentsResult>

/** The feature group the pipeline writes: the seed's schema, or with `window_start` as event time. */
export const cardFeatureGroupSpec = (settings: CardAggregatesSettings): FeatureGroupSpec => ({
  name: settings.featureGroupName,
  version: settings.featureGroupVersion,
  description:
    `Per card: transactions, mean and sample std-dev of the amount over ${settings.windowLengthMinutes}-minute ` +
    `event-time windows sliding every ${settings.windowSlideMinutes} minute(s); written by Tributary`,
  primaryKey: ["cc_num"],
  eventTime: settings.windowStartFeature ? "window_start" : undefined,
  features: settings.windowStartFeature ? cardAggregateFeaturesWithWindow : cardAggregateFeatures,
  onlineEnabled: true
})

/** Creates or retrieves the feature group and a writer for it. Idempotent (`setup feature-group card-aggregates`). */
export const cardAggregatesFeatureGroup = (settings: CardAggregatesSettings) =>
  Effect.flatMap(FeatureStore, (store) => store.featureGroup(cardFeatureGroupSpec(settings)))

/** The window engine: sliding windows keyed by `cc_num` (a number), event time `datetime`, value `amount`. */
export const makeCardAggregatesEngine = (settings: CardAggregatesSettings): CardEngine =>
  makeWindowEngine({
    assigner: sliding(settings.windowLengthMinutes * 60_000, settings.windowSlideMinutes * 60_000),
    aggregator: Aggregator.moments,
    outOfOrdernessMs: settings.outOfOrdernessSeconds * 1_000,
    allowedLatenessMs: settings.allowedLatenessSeconds * 1_000,
    idleTimeoutMs: settings.idleTimeoutSeconds * 1_000,
    emitEmptyAfterActivity: settings.emitEmptyWindows,
    compareKeys: (a: number, b: number) => a - b
  })

export const toCardWindowRecord = (t: CardTransaction, record: KafkaRecord): WindowRecord<number, number> => ({
  offset: Number(record.offset),
  eventTime: t.datetime,
  key: t.cc_num,
  value: t.amount
})

/** A fired window as a feature row ("empty" firings: count 0, mean and std-dev null). */
export const toCardAggregateRow = (firing: CardFiring, withWindowStart: boolean): CardAggregateRow => {
  const r = firing.result
  const base = {
    cc_num: firing.key,
    num_trans_per_10m: r.count,
    avg_amt_per_10m: r.mean,
    stdev_amt_per_10m: r.stddev
  }
  return withWindowStart ? { ...base, window_start: firing.window.start } : base
}

/**
 * Drops "update" firings of a window older than the newest window already written for the same card
 * (see the header comment). `effectiveWatermark(p)` lets it forget cards whose newest window can no
 * longer be superseded by an update (window end + lateness <= E_p).
 */
export const makeNewestWindowGuard = (
  allowedLatenessMs: number,
  effectiveWatermark: (partition: number) => number | undefined
) => {
  const newest = new Map<number, { end: number; partition: number }>()
  let pruneAt = 4_096
  const prune = () => {
    for (const [key, n] of newest) {
      const E = effectiveWatermark(n.partition)
      if (E === undefined || n.end + allowedLatenessMs <= E) newest.delete(key)
    }
    pruneAt = Math.max(4_096, newest.size * 2)
  }
  return {
    filter: (fired: ReadonlyArray<CardFiring>): Array<CardFiring> => {
      const out: Array<CardFiring> = []
      for (const f of fired) {
        const seen = newest.get(f.key)
        if (seen !== undefined && f.window.end < seen.end) continue
        newest.set(f.key, { end: f.window.end, partition: f.partition })
        out.push(f)
      }
      if (newest.size > pruneAt) prune()
      return out
    },
    size: () => newest.size
  }
}

/**
 * Rows counted by their number of transactions, for the dashboard's tally: the chart then handles
 * each distinct value once (it masks card-like numbers in every key it is given), not every row.
 */
const countByTransactions = (rows: ReadonlyArray<CardAggregateRow>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (let i = 0; i < rows.length; i++) {
    const k = String(rows[i]!.num_trans_per_10m)
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return counts
}

export interface CardAggregatesRunOptions {
  /** Engine to use (tests pass one to inspect its stats); default a new one from the settings. */
  readonly engine?: CardEngine | undefined
}

/** The pipeline's one job: creates/retrieves the feature group, then windows the card transactions. */
export const cardAggregatesJobs = Effect.fn("CardAggregatesPipeline.jobs")(function*(
  settings: CardAggregatesSettings,
  options: CardAggregatesRunOptions = {}
) {
  const featureGroup = yield* cardAggregatesFeatureGroup(settings)
  const stats = yield* (yield* PipelineRegistry).register("card-aggregates")
  const engine = options.engine ?? makeCardAggregatesEngine(settings)
  const lateness = settings.allowedLatenessSeconds * 1_000
  const guard = lateness > 0 && !settings.windowStartFeature
    ? makeNewestWindowGuard(lateness, engine.effectiveWatermark)
    : undefined
  const withWindowStart = settings.windowStartFeature
  yield* Effect.logInfo(
    `card-aggregates: ${settings.windowLengthMinutes} min windows every ${settings.windowSlideMinutes} min, ` +
      `out-of-orderness ${settings.outOfOrdernessSeconds} s, lateness ${settings.allowedLatenessSeconds} s → ` +
      `${settings.featureGroupName} v${settings.featureGroupVersion}`
  )
  return [windowedJob({
    name: "card-aggregates",
    // Most batches fire nothing, and a step costs little memory (fired windows and checkpoints, no
    // records): let the engine run well ahead while a write of fired windows awaits its acknowledgement
    // (outputs stay in order). At 1 it idled through most of each write (bench/README.md, occupancy).
    aheadOfOutput: 16,
    source: { groupId: settings.groupId, topics: [settings.topic], deadLetters: settings.deadLetters },
    // JSON (decodeCardTransactions) or registry-framed Avro, as INPUT_FORMAT says.
    ...(yield* inputDecoding(settings.input, CardTransaction)),
    windows: {
      engine,
      toWindowRecord: toCardWindowRecord,
      lateTopic: Option.getOrUndefined(settings.lateRecordsTopic)
    },
    output: {
      _tag: "AtLeastOnce",
      classify: classifyFeatureGroupWrite,
      write: (fired) => {
        const kept = guard === undefined ? fired : guard.filter(fired)
        const rows = kept.map((f) => toCardAggregateRow(f, withWindowStart))
        return featureGroup.write(rows).pipe(
          // A small, bounded set of values for the dashboard's bar chart.
          Effect.andThen(
            stats.tallyAll("cards by transactions per window", countByTransactions(rows), ([k]) => k, ([, n]) => n)
          ),
          Effect.as(rows)
        )
      }
    }
  })]
})

export const cardAggregatesPipeline = definePipeline({
  name: "card-aggregates",
  input: "card-transactions",
  description:
    "Card transactions → per card, 10-minute event-time windows sliding every minute: count, mean, sample std-dev " +
    "→ Hopsworks feature group card_transactions_10m_agg (seed 001)",
  settings: cardAggregatesSettings,
  sourceTopics: (settings) => [settings.topic],
  jobs: (settings) => cardAggregatesJobs(settings),
  simulate: (settings, sim) =>
    Effect.map(cardSimulatorSettings, (card) => {
      const simulator = new CardTransactionsSimulator({
        seed: sim.seed,
        cards: card.cards,
        maxDelayMs: card.maxDelaySeconds * 1_000,
        lateShare: card.lateShare,
        malformedShare: sim.malformedShare
      })
      return { topic: settings.topic, ratePerSecond: sim.ratePerSecond, batch: (n, now) => simulator.batch(n, now) }
    }),
  setup: (settings) => Effect.asVoid(cardAggregatesFeatureGroup(settings))
})

/** Runs the pipeline until interrupted (tests may pass the engine, to inspect it). */
export const runCardAggregatesPipeline = (settings: CardAggregatesSettings, options: CardAggregatesRunOptions = {}) =>
  runPipelineWith({ ...cardAggregatesPipeline, jobs: (s) => cardAggregatesJobs(s, options) }, settings)
