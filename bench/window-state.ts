/**
 * Memory per open key-window of the card-aggregates engine (sliding 10 min / 1 min, `moments`
 * aggregator: one Welford accumulator per key-window, so the state does not grow with the number of
 * records in a window).
 *
 *   node --expose-gc --max-old-space-size=8192 bench/window-state.ts [keys...]
 *
 * Opens every key's windows with one record per key at the same event time (no window fires: the
 * watermark stays before their ends), forces GC, and divides the heap growth by the engine's count of
 * open (partition, key, window) states. A measurement, not a test: it prints a table.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import {
  Aggregator,
  makeWindowEngine,
  sliding,
  tumbling,
  type WindowAssigner,
  type WindowRecord
} from "../src/window/index.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("run with --expose-gc")
  process.exit(1)
}

const MIN = 60_000
const T0 = Date.UTC(2025, 0, 1, 12, 0, 30)

const heapAfterGc = (): number => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

interface Row {
  readonly assigner: string
  readonly keys: number
  readonly partitions: number
  readonly openKeyWindows: number
  readonly heapMb: number
  readonly bytesPerKeyWindow: number
  readonly bytesPerKey: number
  readonly ms: number
}

const measure = (
  name: string,
  assigner: WindowAssigner,
  keys: number,
  partitions: number,
  recordsPerKey: number
): Row => {
  const before = heapAfterGc()
  const started = performance.now()
  const engine = makeWindowEngine({
    assigner,
    aggregator: Aggregator.moments,
    outOfOrdernessMs: 60_000,
    idleTimeoutMs: Infinity,
    emitEmptyAfterActivity: true,
    compareKeys: (a: number, b: number) => a - b
  })
  for (let p = 0; p < partitions; p++) engine.assign(p)
  const offsets: Array<number> = Array.from({ length: partitions }, () => 0)
  const chunk = 100_000
  for (let r = 0; r < recordsPerKey; r++) {
    for (let from = 0; from < keys; from += chunk) {
      const byPartition: Array<Array<WindowRecord<number, number>>> = Array.from({ length: partitions }, () => [])
      for (let k = from; k < Math.min(keys, from + chunk); k++) {
        const p = k % partitions
        byPartition[p]!.push({ offset: offsets[p]!++, eventTime: T0 + r * 1_000, key: k + 1, value: 10 + (k % 97) })
      }
      for (let p = 0; p < partitions; p++) engine.process(p, byPartition[p]!, 0)
    }
  }
  const ms = performance.now() - started
  const stats = engine.stats()
  const after = heapAfterGc()
  const bytes = after - before
  // keep the engine alive until after the measurement
  if (stats.fired !== 0 || engine.assignedPartitions().length !== partitions) throw new Error("unexpected firing")
  return {
    assigner: name,
    keys,
    partitions,
    openKeyWindows: stats.openKeyWindows,
    heapMb: bytes / 1024 / 1024,
    bytesPerKeyWindow: bytes / stats.openKeyWindows,
    bytesPerKey: bytes / keys,
    ms
  }
}

const assigners: Record<string, { readonly assigner: WindowAssigner; readonly recordsPerKey: number }> = {
  "sliding 10m/1m": { assigner: sliding(10 * MIN, MIN), recordsPerKey: 1 },
  "sliding 10m/1m, 5 rec/key": { assigner: sliding(10 * MIN, MIN), recordsPerKey: 5 },
  "tumbling 10m": { assigner: tumbling(10 * MIN), recordsPerKey: 1 }
}

// Each measurement runs in its own process: a fresh heap, so nothing of an earlier one (not yet swept
// garbage, grown old space) blurs the figure.
if (process.argv[2] === "--one") {
  const name = process.argv[3]!
  const { assigner, recordsPerKey } = assigners[name]!
  process.stdout.write(JSON.stringify(measure(name, assigner, Number(process.argv[4]), 3, recordsPerKey)))
  process.exit(0)
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0)
const keyCounts = sizes.length > 0 ? sizes : [10_000, 1_000_000]
const rows: Array<Row> = []
for (const keys of keyCounts) {
  for (const name of Object.keys(assigners)) {
    const out = execFileSync(process.execPath, [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      "--one",
      name,
      String(keys)
    ], {
      encoding: "utf8",
      maxBuffer: 1 << 20
    })
    rows.push(JSON.parse(out) as Row)
  }
}

console.log(`node ${process.version}, ${process.arch}; heap growth after GC / open (partition, key, window) states\n`)
const header = ["assigner", "keys", "open key-windows", "heap MB", "bytes/key-window", "bytes/key", "build ms"]
const table = rows.map((r) => [
  r.assigner,
  r.keys.toLocaleString("en-US"),
  r.openKeyWindows.toLocaleString("en-US"),
  r.heapMb.toFixed(1),
  r.bytesPerKeyWindow.toFixed(0),
  r.bytesPerKey.toFixed(0),
  r.ms.toFixed(0)
])
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)))
const line = (cells: ReadonlyArray<string>) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
console.log(line(header))
console.log(widths.map((w) => "-".repeat(w)).join("  "))
for (const row of table) console.log(line(row))
