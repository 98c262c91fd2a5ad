import { assert, describe, it } from "@effect/vitest"
import { startService } from "../support/ServiceProcess.ts"

describe("the service process (node dist/main.js)", () => {
  it("lists its subcommands with --help", async () => {
    const service = startService(["--help"], {})
    assert.strictEqual(await service.exited, 0)
    for (const command of ["run", "simulate", "setup"]) assert.include(service.output(), command)
  })

  it("stops start-up on a malformed variable, naming it, without printing secrets", async () => {
    const secret = "s3cr3t-api-key-value"
    const service = startService(["run"], {
      KAFKA_MAX_BUFFERED_RECORDS: "lots",
      HOPSWORKS_API_KEY: secret,
      KAFKA_SASL_PASSWORD: secret
    })
    const code = await service.exited
    assert.notStrictEqual(code, 0)
    assert.match(service.output(), /Invalid configuration: KAFKA_MAX_BUFFERED_RECORDS/)
    assert.notInclude(service.output(), secret)
  })

  it("stops start-up on a missing variable that another one requires", async () => {
    const secret = "another-secret-key"
    const service = startService(["run"], { HOPSWORKS_HOST: "hopsworks.example", HOPSWORKS_API_KEY: secret })
    assert.notStrictEqual(await service.exited, 0)
    assert.match(service.output(), /HOPSWORKS_PROJECT \(missing\)/)
    assert.notInclude(service.output(), secret)
  })

  it("runs the embedded demo with no configuration, shows feature rows, and exits 0 on SIGTERM", async () => {
    const service = startService([], {})
    await service.waitForOutput(/online table transactions_1: [1-9]\d* rows/, 30_000)
    service.child.kill("SIGTERM")
    assert.strictEqual(await service.exited, 0)
  }, 60_000)
})
