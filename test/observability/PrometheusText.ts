/** A minimal reader of the Prometheus text format, for assertions on `/metrics`. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/
const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export const parsePrometheus = (text: string): Array<Sample> =>
  text.split("\n").flatMap((l) => {
    if (l.startsWith("#") || l.trim() === "") return []
    const m = line.exec(l.trim())
    if (m === null) throw new Error(`not a Prometheus sample line: ${l}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? "").matchAll(label)) {
      labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
    }
    const raw = m[3]!
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw)
    return [{ name: m[1]!, labels, value }]
  })

/** The value of the one sample with exactly these labels (undefined if absent). */
export const metricValue = (
  samples: ReadonlyArray<Sample>,
  name: string,
  labels: Readonly<Record<string, string>>
): number | undefined => {
  const keys = Object.keys(labels)
  const found = samples.filter((s) =>
    s.name === name && Object.keys(s.labels).length === keys.length && keys.every((k) => s.labels[k] === labels[k])
  )
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} with ${JSON.stringify(labels)}`)
  return found[0]?.value
}
