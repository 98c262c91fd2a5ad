/**
 * `save-fingerprints --out DIR` (the seed's save_fingerprints.py): consumes `fingerprint-output`
 * (read committed: only fingerprints of committed transactions) and the input topic, and writes one
 * file per fingerprint, `{fingerprint_id}_{start_ms}_{end_ms}.json`, holding the fingerprint and the
 * input messages of its window.
 *
 * Correlation without races: when a fingerprint arrives, the input topic's end offsets are read. Every
 * message the pipeline used for that fingerprint was on the input topic before the fingerprint was
 * committed, so it lies below those offsets; the file is written only once the saver has consumed the
 * input topic up to them. (The seed's saver matched against whatever its input thread had buffered so
 * far, so a file could miss readings.) This assumes the input topic is written non-transactionally,
 * as the generators do: a transaction marker at the end of a partition would never be "consumed".
 *
 * File names come from the fingerprint's `uuid`, which whoever produces to the topic chooses: a uuid that
 * is not a UUID, or a name that would resolve outside `--out` (`../../tmp/x`), is skipped with a warning
 * naming the record's topic, partition and offset (counted as dropped); nothing is written for it.
 *
 * Replays are harmless: file name and content depend only on the fingerprint and the topic contents,
 * files are written to a temporary name and renamed, and an identical existing file is left alone.
 * Each run reads both topics from the beginning under fresh consumer groups and commits nothing.
 *
 * Memory: input messages are buffered per equipment until a fingerprint of a later window of that
 * equipment is saved; messages of an equipment that never gets a fingerprint stay buffered.
 */
import { Effect, FileSystem, Random } from "effect"
import { fingerprintSettings } from "../../config/FingerprintConfig.ts"
import { type Fingerprint, FingerprintMessage } from "../../domain/Fingerprint.ts"
import { equipmentKey, SensorMessage } from "../../domain/SensorReading.ts"
import {
  type Decoded,
  jsonBatchDecoder,
  KafkaAdmin,
  type KafkaRecord,
  type PartitionOffsets,
  PipelineRegistry,
  runJob,
  statelessJob
} from "../../index.ts"
import { type WindowReading, writeFingerprintFile } from "../../sinks/files/FingerprintFiles.ts"

export interface SaveFingerprintsOptions {
  readonly outDir: string
}

const jobName = "save-fingerprints"
const decodeInputs = jsonBatchDecoder(SensorMessage)
const decodeFingerprints = jsonBatchDecoder(FingerprintMessage)

/** Where a fingerprint record was: named in the warning when its file cannot be written safely. */
interface Coordinates {
  readonly topic: string
  readonly partition: number
  readonly offset: string
}

/** A consumed record of either topic, decoded by the topic it came from. */
type SaverItem =
  | { readonly from: "input"; readonly reading: WindowReading; readonly equipment: string }
  | { readonly from: "output"; readonly fingerprint: Fingerprint; readonly at: Coordinates }
  /** A malformed input message: no reading, but consumed (the position must still move past it). */
  | { readonly from: "skipped"; readonly partition: number; readonly offset: number }

/**
 * Splits a mixed batch by topic and decodes each part with its own schema. Malformed input messages
 * are the pipeline's to dead-letter; here they only move the position.
 */
const decodeBoth = (inputTopic: string) => (records: ReadonlyArray<KafkaRecord>): Decoded<SaverItem> => {
  const inputs = decodeInputs(records.filter((r) => r.topic === inputTopic))
  const outputs = decodeFingerprints(records.filter((r) => r.topic !== inputTopic))
  return {
    malformed: outputs.malformed,
    valid: [
      ...inputs.malformed.map(({ record }) => ({
        record,
        value: { from: "skipped" as const, partition: record.partition, offset: Number(record.offset) }
      })),
      ...inputs.valid.map(({ record, value }) => ({
        record,
        value: {
          from: "input" as const,
          equipment: equipmentKey(value),
          reading: {
            partition: record.partition,
            offset: Number(record.offset),
            timestamp: value.timestamp,
            message: JSON.parse(record.value!.toString("utf8"))
          }
        }
      })),
      ...outputs.valid.map(({ record, value }) => ({
        record,
        value: {
          from: "output" as const,
          fingerprint: value.fingerprint,
          at: { topic: record.topic, partition: record.partition, offset: record.offset }
        }
      }))
    ]
  }
}

/** Runs until interrupted (or until the topics' stream ends); returns how many files it wrote or found. */
export const saveFingerprints = (options: SaveFingerprintsOptions) =>
  Effect.gen(function*() {
    const settings = yield* fingerprintSettings
    const admin = yield* KafkaAdmin
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(options.outDir, { recursive: true })
    yield* Effect.logInfo(
      `saving fingerprints of ${settings.outputTopic} with inputs of ${settings.topic} to ${options.outDir}`
    )

    const readings = new Map<string, Array<WindowReading>>()
    /** Next input offset to consume, per partition. */
    const positions = new Map<number, bigint>()
    const pending: Array<{
      readonly fingerprint: Fingerprint
      readonly at: Coordinates
      readonly inputEnd: ReadonlyArray<PartitionOffsets>
    }> = []
    const stats = yield* (yield* PipelineRegistry).register(jobName)
    let saved = 0

    const caughtUp = (inputEnd: ReadonlyArray<PartitionOffsets>) =>
      inputEnd.every((p) => {
        const high = BigInt(p.high)
        return high <= BigInt(p.low) || (positions.get(p.partition) ?? BigInt(p.low)) >= high
      })

    const flush = Effect.gen(function*() {
      const rows: Array<Record<string, unknown>> = []
      while (pending.length > 0 && caughtUp(pending[0]!.inputEnd)) {
        const { at, fingerprint } = pending.shift()!
        const all = readings.get(fingerprint.equip_id) ?? []
        const window = all.filter((r) => r.timestamp >= fingerprint.start_ms && r.timestamp < fingerprint.end_ms)
        const file = yield* writeFingerprintFile(options.outDir, fingerprint, window).pipe(
          Effect.catchTag("UnsafeFingerprintFile", (e) =>
            Effect.logWarning(
              `skipped the fingerprint at ${at.topic} partition ${at.partition} offset ${at.offset}: ${e.reason}; ` +
                `nothing written`
            ).pipe(
              Effect.annotateLogs({ topic: at.topic, partition: at.partition, offset: at.offset }),
              Effect.andThen(stats.rejected(1, "drop")),
              Effect.as(undefined)
            ))
        )
        // Skipped: its readings stay buffered for the equipment's next (valid) fingerprint.
        if (file === undefined) continue
        const { path, written } = file
        saved++
        rows.push({ path, readings: window.length })
        yield* Effect.logInfo(`${written ? "saved" : "unchanged"} ${path} (${window.length} readings)`)
        // Fingerprints of an equipment come in window order (one partition per equip_id key).
        readings.set(fingerprint.equip_id, all.filter((r) => r.timestamp >= fingerprint.start_ms))
      }
      return rows
    })

    const write = (items: ReadonlyArray<SaverItem>) =>
      Effect.gen(function*() {
        let fingerprints = false
        for (const item of items) {
          if (item.from === "output") fingerprints = true
          else {
            const { offset, partition } = item.from === "input" ? item.reading : item
            if (item.from === "input") {
              const list = readings.get(item.equipment) ?? []
              list.push(item.reading)
              readings.set(item.equipment, list)
            }
            const next = BigInt(offset) + 1n
            if (next > (positions.get(partition) ?? 0n)) positions.set(partition, next)
          }
        }
        if (fingerprints) {
          const inputEnd = yield* admin.topicOffsets(settings.topic)
          for (const item of items) {
            if (item.from === "output") pending.push({ fingerprint: item.fingerprint, at: item.at, inputEnd })
          }
        }
        return yield* flush
      })

    // Fresh groups each run: both topics are read from the beginning, so the commits are never used.
    const run = (yield* Random.nextIntBetween(0, 0x7fffffff)).toString(36)
    yield* runJob(statelessJob({
      name: jobName,
      source: {
        groupId: `${settings.groupId}-saver-${run}`,
        topics: [settings.topic, settings.outputTopic],
        fromBeginning: true,
        // Records on the output topic that are not fingerprints are skipped (counted, logged), never fatal.
        deadLetters: { ...settings.deadLetters, policy: "drop" }
      },
      decode: decodeBoth(settings.topic),
      // In order, one write at a time: a fingerprint waits for the inputs consumed before it.
      output: { _tag: "AtLeastOnce", write }
    }))
    return saved
  }).pipe(Effect.scoped)
