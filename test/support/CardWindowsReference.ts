/**
 * The naive, obviously-correct definition of the card-aggregates output, shared by the unit, integration
 * and scale-out tests: per card, every aligned sliding window with at least one
 * transaction — count, mean, TWO-PASS sample std-dev of the amounts in [start, start + size) — plus one
 * "empty" row (count 0) for the window right after each active window that has no transaction itself.
 * Valid when every window closes (the stream ends with a far-future record on every partition) and no
 * record is late (disorder below the out-of-orderness).
 */

export interface CardTxn {
  readonly cc_num: number
  readonly datetime: number
  readonly amount: number
}

export interface CardWindowRow {
  readonly cc_num: number
  readonly window_start: number
  readonly num_trans_per_10m: number
  readonly avg_amt_per_10m: number | null
  readonly stdev_amt_per_10m: number | null
}

export const naiveCardWindows = (
  txns: ReadonlyArray<CardTxn>,
  sizeMs = 10 * 60_000,
  slideMs = 60_000
): Array<CardWindowRow> => {
  const byCard = new Map<number, Array<CardTxn>>()
  for (const t of txns) {
    const list = byCard.get(t.cc_num)
    if (list === undefined) byCard.set(t.cc_num, [t])
    else list.push(t)
  }
  const out: Array<CardWindowRow> = []
  for (const [card, list] of byCard) {
    const times = list.map((t) => t.datetime)
    const first = Math.floor((Math.min(...times) - sizeMs) / slideMs) * slideMs
    const last = Math.max(...times)
    const active = new Set<number>()
    for (let start = first; start <= last; start += slideMs) {
      const inside = list.filter((t) => t.datetime >= start && t.datetime < start + sizeMs).map((t) => t.amount)
      if (inside.length === 0) continue
      const n = inside.length
      const mean = inside.reduce((a, b) => a + b, 0) / n
      const stdev = n < 2 ? null : Math.sqrt(inside.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1))
      active.add(start)
      out.push({
        cc_num: card,
        window_start: start,
        num_trans_per_10m: n,
        avg_amt_per_10m: mean,
        stdev_amt_per_10m: stdev
      })
    }
    for (const start of active) {
      if (!active.has(start + slideMs)) {
        out.push({
          cc_num: card,
          window_start: start + slideMs,
          num_trans_per_10m: 0,
          avg_amt_per_10m: null,
          stdev_amt_per_10m: null
        })
      }
    }
  }
  return out
}

/** The same rows per card, in window order. */
export const naiveCardWindowsByCard = (
  txns: ReadonlyArray<CardTxn>,
  sizeMs = 10 * 60_000,
  slideMs = 60_000
): Map<number, Array<CardWindowRow>> => {
  const out = new Map<number, Array<CardWindowRow>>()
  for (const row of naiveCardWindows(txns, sizeMs, slideMs)) {
    const list = out.get(row.cc_num)
    if (list === undefined) out.set(row.cc_num, [row])
    else list.push(row)
  }
  for (const list of out.values()) list.sort((a, b) => a.window_start - b.window_start)
  return out
}

export const close = (a: unknown, b: number | null) =>
  a === null || b === null
    ? a === b
    : typeof a === "number" && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))

/**
 * A decoded feature row equals a reference row (floating-point sums compared with a relative 1e-9);
 * rows of the seed's schema have no `window_start`, and are then compared on the rest.
 */
export const sameCardWindow = (a: Record<string, unknown>, e: CardWindowRow): boolean =>
  a["cc_num"] === e.cc_num && (!("window_start" in a) || a["window_start"] === e.window_start) &&
  a["num_trans_per_10m"] === e.num_trans_per_10m &&
  close(a["avg_amt_per_10m"], e.avg_amt_per_10m) && close(a["stdev_amt_per_10m"], e.stdev_amt_per_10m)
