import { Effect, FileSystem, Path, Random } from "effect"

/**
 * Writes `content` to `path` so that readers see the old file or the new one, never a partial one:
 * the text goes to a temporary file in the same directory, which is then renamed over `path` (atomic on
 * POSIX file systems). If `path` already holds exactly `content`, nothing is written, so a replay
 * leaves files (and their modification times) untouched. Returns whether the file was written.
 */
export const writeFileAtomic = Effect.fn("AtomicFile.write")(function*(path: string, content: string) {
  const fs = yield* FileSystem.FileSystem
  const paths = yield* Path.Path
  if (yield* fs.exists(path)) {
    const existing = yield* fs.readFileString(path)
    if (existing === content) return false
  }
  const suffix = (yield* Random.nextIntBetween(0, 0x7fffffff)).toString(36)
  const temp = paths.join(paths.dirname(path), `.${paths.basename(path)}.${suffix}.tmp`)
  yield* fs.writeFileString(temp, content).pipe(
    Effect.andThen(fs.rename(temp, path)),
    Effect.onError(() => fs.remove(temp).pipe(Effect.ignore))
  )
  return true
})
