import { describe, expect, it } from "vitest"
import { builtInPipelines as pipelines } from "../../src/pipelines/Pipelines.ts"
import { startService } from "../support/ServiceProcess.ts"

/** Runs `node dist/main.js ...args` to its end (the real CLI, as an operator types it). */
const cli = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const service = startService(args, env)
  const code = await service.exited
  return { code, output: service.output() }
}

/** The rows of a help section (`ARGUMENTS`, `FLAGS`): each row's name column and description. */
const rows = (help: string, section: string): Array<{ readonly name: string; readonly description: string }> => {
  const lines = help.split("\n")
  const start = lines.indexOf(section)
  if (start < 0) return []
  const out: Array<{ name: string; description: string }> = []
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith("  ")) break
    const [, name = "", description = ""] = /^ {2}(\S+(?: \S+)?)\s{2,}(.*)$/.exec(line) ?? ["", line.trim(), ""]
    out.push({ name, description: description.replace(/\(optional\)$/, "").trim() })
  }
  return out
}

/** Each command's help, asked once for the whole file (starting the CLI costs a second or two). */
const helps = new Map<string, Promise<{ readonly code: number | string; readonly output: string }>>()
const help = (command: ReadonlyArray<string>) => {
  const key = command.join(" ")
  if (!helps.has(key)) helps.set(key, cli([...command, "--help"]))
  return helps.get(key)!
}

const commands = [
  ["run"],
  ["simulate"],
  ["setup"],
  ["setup", "feature-group"],
  ["setup", "topic"],
  ["setup", "cassandra"],
  ["materialize"],
  ["save-fingerprints"]
]

describe("the command line tells what it accepts (node dist/main.js)", () => {
  it("every argument and flag of every command has a description", async () => {
    const all = await Promise.all(commands.map(help))
    all.forEach(({ code, output }, i) => {
      expect(code, `${commands[i]!.join(" ")} --help`).toBe(0)
      for (const section of ["ARGUMENTS", "FLAGS"]) {
        for (const row of rows(output, section)) {
          expect(row.description, `${commands[i]!.join(" ")}: ${section} ${row.name}`).not.toBe("")
        }
      }
    })
    // The check above can fail: the commands do have arguments and flags.
    expect(rows(all[0]!.output, "ARGUMENTS").map((r) => r.name)).toEqual(["pipeline... choice"])
    expect(rows(all[4]!.output, "ARGUMENTS").map((r) => r.name)).toEqual(["name string"])
    expect(rows(all[4]!.output, "FLAGS").map((r) => r.name)).toEqual(["--partitions integer"])
  })

  it("run, simulate and setup list their choices, one line each", async () => {
    const [run, simulate, setup, featureGroup] = await Promise.all(
      [["run"], ["simulate"], ["setup"], ["setup", "feature-group"]].map(help)
    )
    for (const p of pipelines) {
      const line = new RegExp(`^ {4}${p.name} +${escape(p.description)}$`, "m")
      expect(run!.output).toMatch(line)
      expect(featureGroup!.output).toMatch(new RegExp(`^ {4}${p.name} +\\S`, "m"))
      expect(setup!.output).toMatch(new RegExp(`^ {4}${p.name} +\\S`, "m"))
      // Each input on one line, naming the pipeline it feeds.
      expect(simulate!.output).toMatch(new RegExp(`^ {4}${p.input}\\b.* input of ${p.name}: `, "m"))
    }
    expect(run!.output).toMatch(/^ {4}all +every pipeline above/m)
  })

  it("materialize takes --fg-version, still reads the old --version N there, and --version is the global flag", async () => {
    const fg = await cli(["materialize", "some_fg", "--fg-version", "3"])
    expect(fg.output).toContain("started some_fg_3_offline_fg_materialization")
    const legacy = await cli(["materialize", "some_fg", "--version", "2"])
    expect(legacy.output).toContain("started some_fg_2_offline_fg_materialization")
    const version = await cli(["--version"])
    expect(version.code).toBe(0)
    expect(version.output).toMatch(/tributary v\d+\.\d+\.\d+/)
    const materialize = await help(["materialize"])
    expect(rows(materialize.output, "FLAGS").map((r) => r.name)).toContain("--fg-version integer")
    expect(rows(materialize.output, "FLAGS").map((r) => r.name)).not.toContain("--version integer")
  })
})

describe("environment values (node dist/main.js)", () => {
  it("levels and booleans are read in any case", async () => {
    // In the embedded demo's in-memory broker, `setup topic` reads the Kafka variables and exits.
    const ok = await cli(["setup", "topic", "any-case"], {
      LOG_LEVEL: "info",
      LOG_FORMAT: "JSON",
      KAFKA_SSL: "False",
      KAFKA_SSL_VERIFY_HOSTNAME: "YES"
    })
    expect(ok.output).toContain("topic any-case is there")
    expect(ok.code).toBe(0)
  })

  it("an unknown value exits 2 with one line naming the variable and the accepted values", async () => {
    const cases = [
      ["LOG_LEVEL", "verbose", /^Invalid configuration: LOG_LEVEL: Expected .*"Info".*"Debug"/],
      ["KAFKA_SSL", "maybe", /^Invalid configuration: KAFKA_SSL: Expected .*"true".*"false"/],
      [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "grpc",
        /^Invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL: Expected "http\/protobuf" \| "http\/json"/
      ]
    ] as const
    const results = await Promise.all(cases.map(([name, value]) => cli(["setup", "topic", "x"], { [name]: value })))
    results.forEach(({ code, output }, i) => {
      const [name, value, expected] = cases[i]!
      expect(code, name).toBe(2)
      const lines = output.trim().split("\n")
      expect(lines, output).toHaveLength(1)
      expect(lines[0]).toMatch(expected)
      expect(lines[0]).not.toContain(value)
    })
  })
})

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
