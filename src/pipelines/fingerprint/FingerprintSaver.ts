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
 * Replays are harmless: file name and content depend only on the fingerprint and the topic contents,
 * files are written to a temporary name and renamed, and an identical existing file is left alone.
 * Each run reads both topics from the beginning under fresh consumer groups and commits nothing.
 *
 * Memory: input messages are buffered per equipment until a fingerprint of a later window of that
 * equipment is saved; messages of an equipment that never gets a fingerprint stay buffered.
 */
import { Effect, FileSystem, Random, Stream } from "effect"
import { fingerprintSettings } from "../../config/FingerprintConfig.ts"
import { type Fingerprint, FingerprintMessage } from "../../domain/Fingerprint.ts"
import { equipmentKey, SensorMessage } from "../../domain/SensorReading.ts"
import { KafkaAdmin, type PartitionOffsets } from "../../kafka/KafkaAdmin.ts"
import type { SourceEvent } from "../../kafka/KafkaRecord.ts"
import { KafkaSource } from "../../kafka/KafkaSource.ts"
import { type WindowReading, writeFingerprintFile } from "../../sinks/files/FingerprintFiles.ts"
import { jsonBatchDecoder } from "../shared/JsonDecoder.ts"

export interface SaveFingerprintsOptions {
  readonly outDir: string
}

const decodeInputs = jsonBatchDecoder(SensorMessage)
const decodeFingerprints = jsonBatchDecoder(FingerprintMessage)

type Tagged = { readonly from: "input" | "output"; readonly event: SourceEvent }
const tag = (from: Tagged["from"]) => (event: SourceEvent): Tagged => ({ from, event })

/** Runs until interrupted (or until both topics' streams end). */
export const saveFingerprints = (options: SaveFingerprintsOptions) =>
  Effect.gen(function*() {
    const settings = yield* fingerprintSettings
    const source = yield* KafkaSource
    const admin = yield* KafkaAdmin
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(options.outDir, { recursive: true })

    const run = (yield* Random.nextIntBetween(0, 0x7fffffff)).toString(36)
    const inputs = yield* source.subscribe({
      groupId: `${settings.groupId}-saver-input-${run}`,
      topics: [settings.topic],
      fromBeginning: true
    })
    const outputs = yield* source.subscribe({
      groupId: `${settings.groupId}-saver-output-${run}`,
      topics: [settings.outputTopic],
      fromBeginning: true
    })
    yield* Effect.logInfo(
      `saving fingerprints of ${settings.outputTopic} with inputs of ${settings.topic} to ${options.outDir}`
    )

    const readings = new Map<string, Array<WindowReading>>()
    /** Next input offset to consume, per partition. */
    const positions = new Map<number, bigint>()
    const pending: Array<{ readonly fingerprint: Fingerprint; readonly inputEnd: ReadonlyArray<PartitionOffsets> }> = []
    let saved = 0

    const caughtUp = (inputEnd: ReadonlyArray<PartitionOffsets>) =>
      inputEnd.every((p) => {
        const high = BigInt(p.high)
        return high <= BigInt(p.low) || (positions.get(p.partition) ?? BigInt(p.low)) >= high
      })

    const flush = Effect.gen(function*() {
      while (pending.length > 0 && caughtUp(pending[0]!.inputEnd)) {
        const { fingerprint } = pending.shift()!
        const all = readings.get(fingerprint.equip_id) ?? []
        const window = all.filter((r) => r.timestamp >= fingerprint.start_ms && r.timestamp < fingerprint.end_ms)
        const { path, written } = yield* writeFingerprintFile(options.outDir, fingerprint, window)
        saved++
        yield* Effect.logInfo(`${written ? "saved" : "unchanged"} ${path} (${window.length} readings)`)
        // Fingerprints of an equipment come in window order (one partition per equip_id key).
        readings.set(fingerprint.equip_id, all.filter((r) => r.timestamp >= fingerprint.start_ms))
      }
    })

    const onEvent = ({ event, from }: Tagged) =>
      Effect.gen(function*() {
        if (event._tag !== "Batch" || event.records.length === 0) return
        if (from === "input") {
          const { malformed, valid } = decodeInputs(event.records)
          for (const { record, value } of valid) {
            const key = equipmentKey(value)
            const list = readings.get(key) ?? []
            list.push({
              partition: record.partition,
              offset: Number(record.offset),
              timestamp: value.timestamp,
              message: JSON.parse(record.value!.toString("utf8"))
            })
            readings.set(key, list)
          }
          if (malformed.length > 0) yield* Effect.logDebug(`skipped ${malformed.length} malformed input message(s)`)
          positions.set(event.partition, BigInt(event.records[event.records.length - 1]!.offset) + 1n)
        } else {
          const { malformed, valid } = decodeFingerprints(event.records)
          if (malformed.length > 0) {
            yield* Effect.logWarning(
              `skipped ${malformed.length} record(s) that are not fingerprints: ${malformed[0]!.error.reason}`
            )
          }
          if (valid.length > 0) {
            const inputEnd = yield* admin.topicOffsets(settings.topic)
            for (const { value } of valid) pending.push({ fingerprint: value.fingerprint, inputEnd })
          }
        }
        yield* flush
      })

    yield* Stream.merge(inputs.events.pipe(Stream.map(tag("input"))), outputs.events.pipe(Stream.map(tag("output"))))
      .pipe(
        Stream.runForEach(onEvent)
      )
    return saved
  }).pipe(Effect.scoped)
