import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { mainScript, startService } from "../support/ServiceProcess.ts"
import { kafkaBootstrap, uniqueName } from "../support/TestKafka.ts"

/** What `simulate` must never print: Node warnings (kafkajs' TimeoutNegativeWarning) and client errors it handles. */
const noise = /Warning|ERROR|Response Metadata/

describe("simulate shows its progress and nothing alarming (node dist/main.js, real broker)", () => {
  it("off a terminal: a log line every SIMULATOR_PROGRESS_SECONDS with count, rate and ETA", async () => {
    const service = startService(["simulate", "transactions"], {
      KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
      // kafkajs is the client that warned and logged the auto-created topic's metadata errors.
      KAFKA_CLIENT: "kafkajs",
      KAFKA_TOPIC: uniqueName("simulate-progress"),
      SIMULATOR_RATE: "400",
      SIMULATOR_COUNT: "1200",
      SIMULATOR_PROGRESS_SECONDS: "1"
    })
    expect(await service.exited).toBe(0)
    const output = service.output()
    expect(output).not.toMatch(noise)
    const progress = output.split("\n").filter((l) => / INFO .*transactions: [\d,]+ \/ 1,200 records/.test(l))
    // About three seconds at 400/s: a line a second, and the final one.
    expect(progress.length, output).toBeGreaterThanOrEqual(2)
    expect(progress[0]).toMatch(/\(\d+%\), [\d,]+\/s, ETA \d+s$/)
    expect(progress.at(-1)).toMatch(/1,200 \/ 1,200 records \(100%\), [\d,]+\/s, done$/)
    expect(output).toContain("published 1200 records")
  })

  it("on a terminal: one line redrawn in place", () => {
    // `script` gives the process a pseudo-terminal, as an operator's shell would.
    const env = {
      PATH: process.env["PATH"] ?? "",
      KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap(),
      KAFKA_TOPIC: uniqueName("simulate-tty"),
      SIMULATOR_RATE: "400",
      SIMULATOR_COUNT: "600"
    }
    const output = execFileSync(
      "script",
      ["-qfec", `${JSON.stringify(process.execPath)} ${JSON.stringify(mainScript)} simulate transactions`, "/dev/null"],
      { env, encoding: "utf8", timeout: 30_000 }
    )
    expect(output).not.toMatch(noise)
    const redraws = output.split("\r\x1b[K").slice(1)
    expect(redraws.length, JSON.stringify(output)).toBeGreaterThanOrEqual(2)
    expect(redraws[0]).toMatch(/^transactions: [\d,]+ \/ 600 records \(\d+%\), [\d,]+\/s, ETA \d+s\r?$/)
    expect(redraws.at(-1)).toMatch(/^transactions: 600 \/ 600 records \(100%\), [\d,]+\/s, done\r?\n/)
    // No progress line goes to the log.
    expect(output).not.toMatch(/INFO .*records \(\d+%\)/)
  })
})
