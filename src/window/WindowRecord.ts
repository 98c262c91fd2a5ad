/**
 * What goes into the window engine (records) and what comes out (firings, late records). Kept apart
 * from the engine so the window kinds can share these types without importing the engine.
 */
import type { Window } from "./WindowAssigner.ts"

export interface WindowRecord<K, V> {
  /** Kafka offset as a safe integer number. */
  readonly offset: number
  /** Event time, epoch ms. */
  readonly eventTime: number
  readonly key: K
  readonly value: V
}

export type FiringKind = "final" | "update" | "empty"

export interface Firing<K, Out> {
  readonly partition: number
  readonly key: K
  readonly window: Window
  readonly result: Out
  readonly kind: FiringKind
}

export interface LateRecord<R> {
  readonly partition: number
  readonly record: R
  readonly missedWindows: ReadonlyArray<Window>
}

export interface ProcessResult<K, Out, R> {
  readonly fired: Array<Firing<K, Out>>
  readonly late: Array<LateRecord<R>>
}
