import { assert, describe, it } from "@effect/vitest"
import { afterAll, beforeAll } from "vitest"
import {
  eventually,
  freePort,
  getText,
  startObservedService,
  stopService
} from "../observability/support/ObservedService.ts"
import { extraBroker } from "../support/ExtraBroker.ts"
import type { RunningService } from "../support/ServiceProcess.ts"
import { uniqueName } from "../support/TestKafka.ts"

// A second broker of its own, so stopping it does not disturb the tests on the shared one.
const broker = extraBroker("kafka-obs", 29092)
const port = broker.port
const kafka = broker.run

interface ReadyBody {
  readonly status: string
  readonly reasons: ReadonlyArray<string>
}

const readyz = async (url: string): Promise<{ status: number; body: ReadyBody }> => {
  const r = await getText(`${url}/readyz`)
  return { status: r.status, body: JSON.parse(r.body) as ReadyBody }
}

describe("/readyz follows the broker (second broker on port 29092, service as a child process)", () => {
  beforeAll(() => {
    kafka("start")
  }, 160_000)
  afterAll(() => {
    kafka("stop")
  }, 60_000)

  it("is ready when connected with partitions assigned, 503 while the broker is down, ready again after", async () => {
    const metricsPort = await freePort()
    const url = `http://127.0.0.1:${metricsPort}`
    let service: RunningService | undefined
    try {
      service = startObservedService(["run", "transactions"], {
        KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${port}`,
        KAFKA_TOPIC: uniqueName("obs-transactions"),
        KAFKA_GROUP_ID: uniqueName("obs-group"),
        METRICS_PORT: String(metricsPort),
        HTTP_HOST: "127.0.0.1",
        LAG_POLL_INTERVAL_MS: "1000",
        BROKER_CONTACT_TIMEOUT_SECONDS: "8",
        STALL_TIMEOUT_SECONDS: "60",
        LOG_FORMAT: "json",
        LOG_LEVEL: "Error"
      })
      const running = service
      const ready = await eventually(
        "ready",
        async () => {
          const r = await readyz(url)
          return r.status === 200 ? r : undefined
        },
        90_000,
        running
      )
      assert.deepStrictEqual(ready.body.reasons, [])
      assert.strictEqual((await getText(`${url}/healthz`)).status, 200)

      kafka("stop")
      const down = await eventually(
        "not ready after the broker stopped",
        async () => {
          const r = await readyz(url)
          return r.status === 503 ? r : undefined
        },
        45_000,
        running
      )
      assert.strictEqual(down.body.status, "not ready")
      assert.match(down.body.reasons.join("\n"), /Kafka|not connected/i)
      // Liveness does not depend on the broker: Kubernetes must not restart the pod for an outage.
      assert.strictEqual((await getText(`${url}/healthz`)).status, 200)
      const metrics = (await getText(`${url}/metrics`)).body
      assert.match(metrics, /tributary_ready 0/)

      kafka("start")
      const back = await eventually(
        "ready again after the broker returned",
        async () => {
          const r = await readyz(url)
          return r.status === 200 ? r : undefined
        },
        150_000,
        running
      )
      assert.deepStrictEqual(back.body.reasons, [])
    } finally {
      if (service !== undefined) await stopService(service)
    }
  }, 420_000)
})
