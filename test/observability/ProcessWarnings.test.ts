import { assert, describe, it } from "@effect/vitest"
import { isKafkajsNegativeTimeout } from "../../src/observability/ProcessWarnings.ts"

const warning = (name: string, stack: string) =>
  Object.assign(new Error("-1796590479747 is a negative number."), { name, stack })

describe("the process warning filter", () => {
  it("drops exactly kafkajs' negative-timeout warning (kafkajs issue #1751), nothing else", () => {
    const fromKafkajs = "TimeoutNegativeWarning: -1796590479747 is a negative number.\n" +
      "    at new Timeout (node:internal/timers:195:17)\n" +
      "    at setTimeout (node:timers:120:19)\n" +
      "    at RequestQueue.scheduleCheckPendingRequests (/app/node_modules/kafkajs/src/network/requestQueue/index.js:317:39)"
    assert.isTrue(isKafkajsNegativeTimeout(warning("TimeoutNegativeWarning", fromKafkajs)))
    // The same warning from anyone else's timer is a bug worth seeing.
    assert.isFalse(isKafkajsNegativeTimeout(warning("TimeoutNegativeWarning", "at setTimeout (/app/dist/x.js:1:1)")))
    assert.isFalse(isKafkajsNegativeTimeout(warning("DeprecationWarning", fromKafkajs)))
  })
})
