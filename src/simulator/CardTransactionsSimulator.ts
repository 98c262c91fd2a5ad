import type { CardTransaction } from "../domain/CardTransaction.ts"
import * as Malformed from "./Malformed.ts"
import { SeededRandom } from "./SeededRandom.ts"
import { simulatedRecord } from "./SimulatedRecord.ts"

/** Kinds of malformed input the simulator can mix in, each one the pipeline must dead-letter. */
const malformedKinds: ReadonlyArray<Malformed.Kind<CardTransaction>> = [
  Malformed.notJson,
  (t) => JSON.stringify({ ...t, cc_num: String(t.cc_num) + "x" }),
  (t) => JSON.stringify({ ...t, cc_num: t.cc_num + 0.5 }),
  Malformed.withField("amount", "lots"),
  Malformed.withField("datetime", "yesterday"),
  Malformed.withoutField("cc_num")
]

export interface CardSimulatorOptions {
  readonly seed: number
  /** Cards are numbered 1..cards (default 1000). */
  readonly cards?: number | undefined
  /** Each record's event time is `now` minus a uniform random delay up to this (disorder). Default 0. */
  readonly maxDelayMs?: number | undefined
  /** Share of records that are LATE: event time `lateByMs` (plus up to a minute) before `now`. Default 0. */
  readonly lateShare?: number | undefined
  /** How far in the past late records are (default 15 minutes: beyond a 10-minute window + 1 minute of disorder). */
  readonly lateByMs?: number | undefined
  /** Share of malformed records (default 0). */
  readonly malformedShare?: number | undefined
}

export interface SimulatedCardRecord {
  /** `cc_num` as text: the topic is keyed by the aggregation key. */
  readonly key: string
  readonly value: string
  readonly malformed: boolean
  /** True when the simulator meant this record to arrive after its windows closed. */
  readonly late: boolean
  /** The transaction behind the record (also for malformed ones, which are derived from it). */
  readonly transaction: CardTransaction
}

/**
 * Synthetic card transactions (seed 001's `SimProducer`): cards 1–1000, amounts log-normally spread
 * around ~35 (cents rounded), event times ≈ now with optional disorder and late records, optionally
 * malformed ones. Deterministic for a seed and the same sequence of `now`s, so a test can compute
 * what the pipeline must produce.
 */
export class CardTransactionsSimulator {
  private readonly random: SeededRandom
  private readonly cards: number
  private readonly maxDelayMs: number
  private readonly lateShare: number
  private readonly lateByMs: number
  private readonly malformedShare: number

  constructor(options: CardSimulatorOptions) {
    this.random = new SeededRandom(options.seed)
    this.cards = options.cards ?? 1000
    this.maxDelayMs = options.maxDelayMs ?? 0
    this.lateShare = options.lateShare ?? 0
    this.lateByMs = options.lateByMs ?? 15 * 60_000
    this.malformedShare = options.malformedShare ?? 0
  }

  /** Standard normal draw (Box–Muller). */
  private normal(): number {
    const u = 1 - this.random.next()
    const v = this.random.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }

  transaction(nowMs: number, late = false): CardTransaction {
    const r = this.random
    const delay = late
      ? this.lateByMs + r.int(0, 60_000)
      : this.maxDelayMs > 0
      ? r.int(0, Math.floor(this.maxDelayMs))
      : 0
    return {
      tid: r.uuid(),
      datetime: Math.max(0, Math.floor(nowMs) - delay),
      cc_num: r.int(1, this.cards),
      amount: Math.round(Math.exp(3.5 + this.normal()) * 100) / 100
    }
  }

  next(nowMs: number): SimulatedCardRecord {
    const late = this.lateShare > 0 && this.random.chance(this.lateShare)
    const t = this.transaction(nowMs, late)
    const record = simulatedRecord(this.random, String(t.cc_num), t, this.malformedShare, malformedKinds)
    // A malformed record never reaches a window, so it is not counted as late.
    return { ...record, late: late && !record.malformed, transaction: t }
  }

  batch(count: number, nowMs: number): Array<SimulatedCardRecord> {
    return Array.from({ length: count }, () => this.next(nowMs))
  }
}
