import { Effect, Path, Schema } from "effect"
import { type Fingerprint, fingerprintFileName } from "../../domain/Fingerprint.ts"
import { writeFileAtomic } from "./AtomicFile.ts"

/** An input message of a fingerprint's window, as it was on the input topic, with where it was. */
export interface WindowReading {
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  /** The message as published (JSON), including its `"null"` readings. */
  readonly message: unknown
}

/** An integer a Date can hold (±8.64e15 ms): anything else has no ISO time for the file. */
const isEpochMillis = (ms: number): boolean => Number.isSafeInteger(ms) && Math.abs(ms) <= 8.64e15

/** ISO text of a time, or null when a Date cannot hold it. */
const isoTime = (ms: number): string | null => (isEpochMillis(ms) ? new Date(ms).toISOString() : null)

/**
 * The saved file, in the seed saver's shape: the fingerprint, and the input messages of its window
 * (equipment and `[start_ms, end_ms)`) sorted by event time, then partition and offset, so the same
 * input gives byte-identical files.
 */
export const fingerprintFileContent = (fingerprint: Fingerprint, readings: ReadonlyArray<WindowReading>): string => {
  const sorted = readings.toSorted((a, b) =>
    a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset
  )
  return JSON.stringify(
    {
      fingerprint,
      sensor_data: {
        equip_id: fingerprint.equip_id,
        window: {
          start_ms: fingerprint.start_ms,
          end_ms: fingerprint.end_ms,
          start_time: isoTime(fingerprint.start_ms),
          end_time: isoTime(fingerprint.end_ms)
        },
        readings: sorted.map((r) => r.message),
        reading_count: sorted.length
      }
    },
    null,
    2
  ) + "\n"
}

/**
 * A fingerprint whose file would not be a plain file directly inside the output folder: its `uuid` (read
 * from Kafka, so anyone who can produce to the topic chooses it) is not a UUID, or the name resolves
 * elsewhere. Nothing is written for it.
 */
export class UnsafeFingerprintFile extends Schema.TaggedError<UnsafeFingerprintFile>()("UnsafeFingerprintFile", {
  reason: Schema.String
}) {}

/** 8-4-4-4-12 hexadecimal digits (any version, either case): what `fingerprintId` makes. */
const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** An untrusted value quoted for a log line: escaped (no line breaks or control characters) and cut short. */
const quoted = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)

/**
 * `{outDir}/{fingerprint_id}_{start_ms}_{end_ms}.json`, once the id has the UUID shape and the resolved
 * file lies directly inside `outDir`; an UnsafeFingerprintFile otherwise.
 */
export const fingerprintFilePath = Effect.fn("FingerprintFiles.path")(function*(
  outDir: string,
  fingerprint: Fingerprint
) {
  const paths = yield* Path.Path
  if (!uuidShape.test(fingerprint.uuid)) {
    return yield* new UnsafeFingerprintFile({ reason: `uuid ${quoted(fingerprint.uuid)} is not a UUID` })
  }
  const { end_ms, start_ms } = fingerprint
  if (!isEpochMillis(start_ms) || !isEpochMillis(end_ms) || start_ms > end_ms) {
    return yield* new UnsafeFingerprintFile({ reason: `window [${start_ms}, ${end_ms}) is not a time range` })
  }
  const name = fingerprintFileName(fingerprint)
  const folder = paths.resolve(outDir)
  const resolved = paths.resolve(folder, name)
  if (paths.dirname(resolved) !== folder || paths.basename(resolved) !== name) {
    return yield* new UnsafeFingerprintFile({ reason: `file name ${quoted(name)} resolves outside ${folder}` })
  }
  return paths.join(outDir, name)
})

/**
 * Writes `{outDir}/{fingerprint_id}_{start_ms}_{end_ms}.json` atomically; returns its path. Fails with
 * UnsafeFingerprintFile, writing nothing, when the name is not safe (see fingerprintFilePath).
 */
export const writeFingerprintFile = Effect.fn("FingerprintFiles.write")(function*(
  outDir: string,
  fingerprint: Fingerprint,
  readings: ReadonlyArray<WindowReading>
) {
  const path = yield* fingerprintFilePath(outDir, fingerprint)
  const written = yield* writeFileAtomic(path, fingerprintFileContent(fingerprint, readings))
  return { path, written }
})
