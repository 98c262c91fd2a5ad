import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { type PartitionerArgs, Partitioners } from "kafkajs"
import { keyPartitioner, murmur2 } from "../../src/kafka/KeyPartitioner.ts"

// kafkajs' own Java-compatible partitioner (64-bit Long arithmetic) is the reference.
const reference = Partitioners.DefaultPartitioner()
const metadata = (partitions: number) =>
  Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0 }))
const args = (key: Buffer | string | null, partitions: number, partition?: number) =>
  ({
    topic: "t",
    partitionMetadata: metadata(partitions),
    message: { key, value: null, ...(partition === undefined ? {} : { partition }) }
  }) as PartitionerArgs

const Key = Schema.Uint8Array
const Partitions = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 }))

describe("KeyPartitioner", () => {
  it("murmur2 matches the values Kafka's Java client computes", () => {
    // Kafka's own UtilsTest.testMurmur2 vectors.
    const cases: ReadonlyArray<readonly [string, number]> = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107]
    ]
    for (const [key, expected] of cases) assert.strictEqual(murmur2(Buffer.from(key)), expected, key)
  })

  it.prop("places byte keys where kafkajs' default partitioner does", { key: Key, partitions: Partitions }, ({
    key,
    partitions
  }) => {
    const buffer = Buffer.from(key)
    assert.strictEqual(keyPartitioner()(args(buffer, partitions)), reference(args(buffer, partitions)))
  })

  it.prop("places string keys (UTF-8) where kafkajs' default partitioner does", {
    key: Schema.String,
    partitions: Partitions
  }, ({ key, partitions }) => {
    assert.strictEqual(keyPartitioner()(args(key, partitions)), reference(args(key, partitions)))
  })

  it("an explicit partition wins; unkeyed records rotate over every partition", () => {
    const partitioner = keyPartitioner()
    assert.strictEqual(partitioner(args("user-1", 6, 4)), 4)
    const seen = new Set(Array.from({ length: 6 }, () => partitioner(args(null, 6))))
    assert.deepStrictEqual([...seen].sort(), [0, 1, 2, 3, 4, 5])
  })
})
