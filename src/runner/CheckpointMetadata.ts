import type { AssignOptions, Checkpoint } from "../window/index.ts"

/**
 * The watermark state stored as Kafka commit metadata next to a windowed job's safe offset: with it,
 * a restarted or newly assigned owner replays from the safe offset without re-emitting windows that
 * were already final (docs/window-semantics.md, "Safe offset, checkpoints and replay").
 */
export const encodeCheckpointMetadata = (c: Checkpoint): string =>
  JSON.stringify({ w: c.watermark, pw: c.partitionWatermark, e: c.endOffset, ...(c.idle ? { i: 1 } : {}) })

/** What a checkpoint restores: the engine's assign options, and whether the partition was idle. */
export interface RestoredCheckpoint extends AssignOptions {
  readonly idle?: boolean
}

/** Metadata this version did not write (or none) restores nothing: the engine starts fresh. */
export const decodeCheckpointMetadata = (metadata: string | undefined): RestoredCheckpoint => {
  if (metadata === undefined || metadata.length === 0) return {}
  try {
    const m = JSON.parse(metadata) as { w?: unknown; pw?: unknown; e?: unknown; i?: unknown }
    return {
      ...(typeof m.w === "number" ? { restoredWatermark: m.w } : {}),
      ...(typeof m.pw === "number" ? { restoredPartitionWatermark: m.pw } : {}),
      ...(typeof m.e === "number" ? { replayEndOffset: m.e } : {}),
      ...(m.i === 1 ? { idle: true } : {})
    }
  } catch {
    return {}
  }
}
