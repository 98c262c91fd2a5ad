import type { KafkaRecord } from "../../src/kafka/KafkaRecord.ts"

/**
 * A maker of consumed records for decoder tests: `record(value, offset)` on `topic` (partition 0
 * unless given), no key, no headers. A string value is taken as it is, `null` is a tombstone, anything
 * else is sent as its JSON.
 */
export const recordsOn = (topic: string, partition = 0) => (value: unknown, offset = 0): KafkaRecord => ({
  topic,
  partition,
  offset: String(offset),
  timestamp: 0,
  key: null,
  value: value === null ? null : Buffer.from(typeof value === "string" ? value : JSON.stringify(value)),
  headers: {}
})
