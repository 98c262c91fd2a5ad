/**
 * Pure event-time windowing for the pipelines: assigners, mergeable aggregators, watermarks and the
 * engine. Semantics: docs/window-semantics.md.
 */
export * as Aggregator from "./Aggregator.ts"
export type { Checkpoint } from "./Checkpoint.ts"
export type { AssignOptions } from "./Partitions.ts"
export { makeWatermarks } from "./Watermarks.ts"
export type { PartitionClock, Watermarks, WatermarksOptions } from "./Watermarks.ts"
export { hopping, lastStart, session, sliding, tumbling, windowsFor } from "./WindowAssigner.ts"
export type { Aligned, Session, Window, WindowAssigner } from "./WindowAssigner.ts"
export { makeWindowEngine } from "./WindowEngine.ts"
export type { WindowEngine, WindowEngineOptions, WindowEngineStats } from "./WindowEngine.ts"
export type { Firing, FiringKind, LateRecord, ProcessResult, WindowRecord } from "./WindowRecord.ts"
