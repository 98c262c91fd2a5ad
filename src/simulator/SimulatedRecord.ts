import type * as Malformed from "./Malformed.ts"

/** A generated record, as a simulator hands it to the publisher. */
export interface SimulatedRecord {
  readonly key: string
  readonly value: string
  /** True when the simulator meant this record to be malformed. */
  readonly malformed: boolean
}

/** The draws `simulatedRecord` makes: `SeededRandom`'s, or an adapter over another generator. */
export interface Draws {
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
}

/**
 * `record` as JSON under `key`; with probability `malformedShare`, spoilt instead by one of
 * `malformedKinds` drawn at random (a share of 0 draws nothing, so the sequence stays the same).
 */
export const simulatedRecord = <A>(
  random: Draws,
  key: string,
  record: A,
  malformedShare: number,
  malformedKinds: ReadonlyArray<Malformed.Kind<A>>
): SimulatedRecord =>
  malformedShare > 0 && random.chance(malformedShare)
    ? { key, value: random.pick(malformedKinds)(record), malformed: true }
    : { key, value: JSON.stringify(record), malformed: false }
