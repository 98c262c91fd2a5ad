import { assert, describe, it } from "@effect/vitest"
import type { CommitOffset } from "../../src/kafka/KafkaRecord.ts"
import { makeUnwrittenSteps } from "../../src/runner/UnwrittenSteps.ts"

const at = (partition: number, epoch: number): CommitOffset => ({ topic: "t", partition, offset: "0", epoch })

/** Whether `drainRevoked()` has resolved once pending callbacks ran. */
const settled = async (p: Promise<void>) => {
  let done = false
  void p.then(() => (done = true))
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

describe("UnwrittenSteps", () => {
  it("a revoked partition drains once every step read from it is written; kept partitions never hold it", async () => {
    const steps = makeUnwrittenSteps()
    const owned = new Set(["0@1", "1@1"])
    steps.follow((o) => owned.has(`${o.partition}@${o.epoch}`))
    steps.add([at(0, 1), at(1, 1)])
    steps.add([at(0, 1)])
    steps.add([at(1, 1)])
    owned.delete("0@1") // partition 0 is revoked; 1 stays
    const drained = steps.drainRevoked()
    assert.isFalse(await settled(drained))
    steps.remove([at(0, 1), at(1, 1)])
    assert.isFalse(await settled(drained), "one step of partition 0 is still unwritten")
    steps.remove([at(0, 1)])
    assert.isTrue(await settled(drained), "partition 1's unwritten step does not hold the drain")
  })

  it("steps are counted per epoch: a partition assigned again does not wait for its own new steps", async () => {
    const steps = makeUnwrittenSteps()
    const owned = new Set(["0@1"])
    steps.follow((o) => owned.has(`${o.partition}@${o.epoch}`))
    steps.add([at(0, 1)])
    owned.delete("0@1")
    owned.add("0@2") // revoked, then assigned again under a new epoch
    steps.add([at(0, 2)])
    const drained = steps.drainRevoked()
    assert.isFalse(await settled(drained))
    steps.remove([at(0, 1)])
    assert.isTrue(await settled(drained))
  })

  it("before the subscription says otherwise, every partition is owned: nothing to drain", async () => {
    const steps = makeUnwrittenSteps()
    steps.add([at(0, 1)])
    assert.isTrue(await settled(steps.drainRevoked()))
  })
})
