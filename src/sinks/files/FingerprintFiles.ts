import { Effect, Path } from "effect"
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
          start_time: new Date(fingerprint.start_ms).toISOString(),
          end_time: new Date(fingerprint.end_ms).toISOString()
        },
        readings: sorted.map((r) => r.message),
        reading_count: sorted.length
      }
    },
    null,
    2
  ) + "\n"
}

/** Writes `{outDir}/{fingerprint_id}_{start_ms}_{end_ms}.json` atomically; returns its path. */
export const writeFingerprintFile = Effect.fn("FingerprintFiles.write")(function*(
  outDir: string,
  fingerprint: Fingerprint,
  readings: ReadonlyArray<WindowReading>
) {
  const paths = yield* Path.Path
  const path = paths.join(outDir, fingerprintFileName(fingerprint))
  const written = yield* writeFileAtomic(path, fingerprintFileContent(fingerprint, readings))
  return { path, written }
})
