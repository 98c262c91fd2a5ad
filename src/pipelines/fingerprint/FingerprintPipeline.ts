/**
 * Seed 003: sensor messages → per equipment and 1-minute event-time window, per sensor min, max,
 * median, mean and std_dev → the seed's fingerprint JSON on `fingerprint-output`, EXACTLY ONCE.
 *
 * ## Exactly-once
 * The runner's `KafkaTransaction` output writes a batch's fingerprints and the consumed
 * checkpoint (safe offset + watermark metadata) in ONE Kafka transaction. A read-committed consumer of
 * `fingerprint-output` therefore sees a fingerprint exactly when the offsets that produced it are
 * committed: after a crash the new owner resumes at the committed checkpoint, skips the windows that
 * checkpoint says were already emitted, and rebuilds (and later emits) the others. An aborted or
 * never-committed transaction's fingerprints are invisible to read-committed consumers.
 *
 * ## Transactional id and zombie fencing (kafkajs has no KIP-447)
 * kafkajs commits offsets with a TxnOffsetCommit that carries no consumer-group generation, so the
 * broker cannot fence a stale group member by its generation (KIP-447). The only fencing left is the
 * transactional id: `initTransactions` by a new producer with the same id bumps the producer epoch,
 * aborts the predecessor's open transaction and makes every later write or commit of the predecessor
 * fail (`ProducerFenced`). We therefore use ONE STABLE id per pipeline and input topic
 * (`FINGERPRINT_TRANSACTIONAL_ID`, default `<group id>.<topic>`), not a random one per process:
 * - a restarted process fences the crashed (or hung, "zombie") one and aborts its open transaction at
 *   once, instead of that transaction blocking read-committed consumers until it times out;
 * - a hung process that wakes up after its successor started cannot commit anything.
 * The id covers the whole partition set of the topic, so the deployment model is ONE active process
 * per group (the seed runs one Flink job too); PARALLELISM is the number of partitions that process
 * consumes concurrently. A second process with the same id would fence the first (safe: no
 * duplicates, but the fenced one stops making progress). Scaling out to several processes needs a
 * transactional id per input partition (Kafka Streams' pre-KIP-447 "EOS alpha"), i.e. one producer
 * and one transaction per partition in the runner.
 *
 * ## Statistics
 * min, max, median (mean of the two middle values for an even count), mean, and the POPULATION
 * standard deviation (divisor n), as the seed's `statistics.pstdev` (0 for a single reading). The
 * window engine's own `stddev` is the sample one (n − 1), so the population one is built here on the
 * same Welford state. Null readings are filtered before windowing and never reach a statistic.
 */
import { Effect, Metric, Schedule } from "effect"
import { equipmentType, type FingerprintSettings, fingerprintSettings } from "../../config/FingerprintConfig.ts"
import { makeFingerprint, type SensorStats } from "../../domain/Fingerprint.ts"
import { equipmentKey, SensorMessage, type SensorReading, unnestReadings } from "../../domain/SensorReading.ts"
import {
  Aggregator,
  type Decoded,
  definePipeline,
  ensureTopics,
  type Firing,
  inputDecoding,
  jsonBatchDecoder,
  type KafkaRecord,
  makeWindowEngine,
  mapDecoding,
  type OutgoingRecord,
  PipelineRegistry,
  runPipelineWith,
  tumbling,
  windowedJob,
  type WindowEngine
} from "../../index.ts"
import { SensorSimulator } from "../../simulator/SensorSimulator.ts"

/** A decoded, unnested sensor message: what enters the window engine. */
export interface SensorEvent {
  readonly equipId: string
  readonly timestamp: number
  readonly readings: ReadonlyArray<SensorReading>
}

/** Population standard deviation (divisor n) on the engine's Welford state; `null` when empty. */
export const populationStdDev: Aggregator.Aggregator<number, Aggregator.Moments, number | null> = {
  ...Aggregator.mean,
  result: (m) => (m.n === 0 ? null : Math.sqrt(Math.max(0, m.m2) / m.n))
}

/** The seed's five statistics of one sensor. */
export const sensorStatistics = Aggregator.combine({
  min: Aggregator.min,
  max: Aggregator.max,
  median: Aggregator.median,
  mean: Aggregator.mean,
  std_dev: populationStdDev
})

/** Feeds every element of an array value to `aggregator` (one Kafka record carries several readings). */
export const eachOf = <W, Acc, Out>(
  aggregator: Aggregator.Aggregator<W, Acc, Out>
): Aggregator.Aggregator<ReadonlyArray<W>, Acc, Out> => ({
  empty: aggregator.empty,
  add: (acc, values) => {
    let a = acc
    for (let i = 0; i < values.length; i++) a = aggregator.add(a, values[i]!)
    return a
  },
  merge: aggregator.merge,
  result: aggregator.result
})

/** Per sensor (sub-key) statistics of a window's readings. */
export const fingerprintAggregator = eachOf(
  Aggregator.grouped(
    (r: SensorReading) => r.sensor,
    Aggregator.contramap(sensorStatistics, (r: SensorReading) => r.value)
  )
)

export type WindowStatistics = Aggregator.AggregatorOutput<typeof fingerprintAggregator>

export const makeFingerprintEngine = (
  settings: Pick<FingerprintSettings, "windowSizeMs" | "outOfOrdernessMs" | "idleTimeoutMs">
): WindowEngine<string, ReadonlyArray<SensorReading>, WindowStatistics> =>
  makeWindowEngine({
    assigner: tumbling(settings.windowSizeMs),
    aggregator: fingerprintAggregator,
    outOfOrdernessMs: settings.outOfOrdernessMs,
    idleTimeoutMs: settings.idleTimeoutMs
  })

/** Null readings filtered so far, by this process (also the `tributary_sensor_null_readings_total` metric). */
export interface NullCounter {
  nulls: number
}

/** Unnests each decoded message into what the engine takes, counting its null readings. */
const toSensorEvents =
  (counter: NullCounter) => ({ malformed, valid }: Decoded<typeof SensorMessage.Type>): Decoded<SensorEvent> => ({
    malformed,
    valid: valid.map(({ record, value }) => {
      const { nulls, readings } = unnestReadings(value)
      counter.nulls += nulls
      return { record, value: { equipId: equipmentKey(value), timestamp: value.timestamp, readings } }
    })
  })

const decodeMessages = jsonBatchDecoder(SensorMessage)

/** Decodes a batch of JSON messages (malformed → dead letters) and unnests each one. */
export const decodeSensorEvents = (counter: NullCounter) => (records: ReadonlyArray<KafkaRecord>) =>
  toSensorEvents(counter)(decodeMessages(records))

const complete = (s: WindowStatistics[string]): s is { [K in keyof SensorStats]: number } =>
  s.min !== null && s.max !== null && s.median !== null && s.mean !== null && s.std_dev !== null

/**
 * Fired windows → fingerprint records keyed by equip_id. A window whose messages had only null
 * readings has no statistics and produces no fingerprint (as the seed, which filters before windowing).
 */
export const fingerprintRecords = (
  settings: Pick<FingerprintSettings, "outputTopic" | "equipmentTypes" | "defaultEquipmentType">,
  fired: ReadonlyArray<Firing<string, WindowStatistics>>
): { records: Array<OutgoingRecord>; rows: Array<Record<string, unknown>> } => {
  const records: Array<OutgoingRecord> = []
  const rows: Array<Record<string, unknown>> = []
  for (const f of fired) {
    const data: Record<string, SensorStats> = {}
    for (const [sensor, stats] of Object.entries(f.result)) if (complete(stats)) data[sensor] = stats
    if (Object.keys(data).length === 0) continue
    const message = makeFingerprint({
      equipId: f.key,
      type: equipmentType(settings, f.key),
      startMs: f.window.start,
      endMs: f.window.end,
      data
    })
    records.push({ topic: settings.outputTopic, key: f.key, value: JSON.stringify(message) })
    const { data: _, ...summary } = message.fingerprint
    rows.push({ ...summary, sensors: Object.keys(data).length })
  }
  return { records, rows }
}

const nullReadings = Metric.counter("tributary_sensor_null_readings_total", {
  description: "Sensor readings that were \"null\" or missing, filtered before windowing",
  incremental: true
})

/** Copies the null counter into the metric every second (the decoder is pure and cannot update it). */
const reportNulls = (counter: NullCounter) => {
  let reported = 0
  return Effect.suspend(() => {
    const delta = counter.nulls - reported
    reported = counter.nulls
    return delta > 0
      ? Metric.update(Metric.withAttributes(nullReadings, { pipeline: "fingerprint" }), delta)
      : Effect.void
  }).pipe(Effect.repeat(Schedule.spaced("1 second")))
}

/** Creates the input and output topics if missing (transactional producers should not rely on auto-creation). */
export const ensureFingerprintTopics = (settings: FingerprintSettings) =>
  ensureTopics([settings.topic, settings.outputTopic])

/** The pipeline's one job: windows per equipment, fingerprints and offsets in one Kafka transaction. */
export const fingerprintJobs = Effect.fn("FingerprintPipeline.jobs")(function*(settings: FingerprintSettings) {
  yield* ensureFingerprintTopics(settings)
  const counter: NullCounter = { nulls: 0 }
  yield* Effect.forkScoped(reportNulls(counter))
  const stats = yield* (yield* PipelineRegistry).register("fingerprint")
  return [windowedJob({
    name: "fingerprint",
    source: {
      groupId: settings.groupId,
      topics: [settings.topic],
      deadLetters: settings.deadLetters,
      parallelism: settings.parallelism
    },
    ...mapDecoding(yield* inputDecoding(settings.input, SensorMessage), toSensorEvents(counter)),
    windows: {
      engine: makeFingerprintEngine(settings),
      toWindowRecord: (value: SensorEvent, record: KafkaRecord) => ({
        offset: Number(record.offset),
        eventTime: value.timestamp,
        key: value.equipId,
        value: value.readings
      })
    },
    output: {
      _tag: "KafkaTransaction",
      transactionalId: settings.transactionalId,
      toRecords: (fired) => fingerprintRecords(settings, fired)
    },
    // The rows are the fingerprints' summaries (fingerprintRecords), committed by now.
    afterWrite: (rows) => stats.tallyAll("fingerprints per equipment", rows, (r) => String(r["equip_id"]))
  })]
})

export const fingerprintPipeline = definePipeline({
  name: "fingerprint",
  input: "sensors",
  description:
    "Sensor messages → per equipment and 1-minute window, per sensor min/max/median/mean/std_dev → fingerprint JSON on Kafka, exactly once (seed 003)",
  settings: fingerprintSettings,
  sourceTopics: (settings) => [settings.topic],
  jobs: fingerprintJobs,
  /**
   * `simulate sensors`: one message per equipment every 1/rate seconds (default: every second), values
   * 0–100 with ~15% `"null"`, seeded, keyed by equip_id. `count` counts messages.
   */
  simulate: (settings, sim) =>
    Effect.sync(() => {
      const simulator = new SensorSimulator({
        seed: sim.seed,
        equipmentIds: settings.equipmentIds,
        sensorIds: settings.sensorIds,
        malformedShare: sim.malformedShare
      })
      return {
        topic: settings.topic,
        ratePerSecond: sim.ratePerSecond * settings.equipmentIds.length,
        batch: (n, now) => simulator.batch(n, now)
      }
    }),
  setup: ensureFingerprintTopics
})

/** Runs the fingerprint pipeline until interrupted. */
export const runFingerprintPipeline = (settings: FingerprintSettings) => runPipelineWith(fingerprintPipeline, settings)
