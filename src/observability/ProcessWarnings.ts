/**
 * Node prints every process warning on stderr. One is known and harmless: kafkajs' request queue
 * arms a timer with a huge negative delay when it is not throttled (`throttledUntil` starts at -1;
 * kafkajs issue #1751), which Node clamps to 1 ms and reports as `TimeoutNegativeWarning` on every
 * start. This keeps Node's own printer for everything else and drops exactly that warning.
 */

/** The kafkajs warning: a TimeoutNegativeWarning raised from its request queue. */
export const isKafkajsNegativeTimeout = (warning: Error): boolean =>
  warning.name === "TimeoutNegativeWarning" && /kafkajs[\\/]src[\\/]network[\\/]requestQueue/.test(warning.stack ?? "")

let installed = false

/** Installs the filter once per process (idempotent). */
export const silenceKnownWarnings = (): void => {
  if (installed) return
  installed = true
  const printers = process.listeners("warning")
  process.removeAllListeners("warning")
  process.on("warning", (warning) => {
    if (isKafkajsNegativeTimeout(warning)) return
    for (const print of printers) print.call(process, warning)
  })
}
