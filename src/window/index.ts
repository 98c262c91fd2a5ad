/**
 * Pure event-time windowing for the pipelines: assigners, mergeable aggregators, watermarks, the
 * engine, and a small Clock-driven timer.
 */
export * as Aggregator from "./Aggregator.ts"
export { makeWatermarks } from "./Watermarks.ts"
export type { PartitionClock, Watermarks, WatermarksOptions } from "./Watermarks.ts"
export { hopping, lastStart, session, sliding, tumbling, windowsFor } from "./WindowAssigner.ts"
export type { Aligned, Session, Window, WindowAssigner } from "./WindowAssigner.ts"
export { makeWindowEngine } from "./WindowEngine.ts"
export type {
  AssignOptions,
  Checkpoint,
  Firing,
  FiringKind,
  LateRecord,
  ProcessResult,
  WindowEngine,
  WindowEngineOptions,
  WindowEngineStats,
  WindowRecord
} from "./WindowEngine.ts"
export * as WindowTimer from "./WindowTimer.ts"
