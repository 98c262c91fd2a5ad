import { Result, Schema } from "effect"
import { isUtf8 } from "node:buffer"
import { describeIssue, MalformedRecord } from "../domain/MalformedRecord.ts"
import type { KafkaRecord } from "../kafka/KafkaRecord.ts"

export interface Decoded<A> {
  readonly valid: Array<{ readonly record: KafkaRecord; readonly value: A }>
  readonly malformed: Array<{ readonly record: KafkaRecord; readonly error: MalformedRecord }>
}

/**
 * Builds a batch decoder for JSON record values: one pass, no Effect per record. Each record ends up in
 * exactly one of `valid` or `malformed`, the latter with a reason naming the field.
 */
export const jsonBatchDecoder = <S extends Schema.Decoder<unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (records: ReadonlyArray<KafkaRecord>): Decoded<S["Type"]> => {
    const valid: Decoded<S["Type"]>["valid"] = []
    const malformed: Decoded<S["Type"]>["malformed"] = []
    for (const record of records) {
      const reason = (() => {
        if (record.value === null) return "empty value (tombstone)"
        // Decoding would replace bad bytes silently: two different ids could become the same key.
        if (!isUtf8(record.value)) return "value is not valid UTF-8"
        let json: unknown
        try {
          json = JSON.parse(record.value.toString("utf8"))
        } catch (error) {
          return `not JSON: ${(error as Error).message}`
        }
        const result = decode(json)
        if (Result.isSuccess(result)) {
          valid.push({ record, value: result.success })
          return undefined
        }
        return describeIssue(result.failure)
      })()
      if (reason !== undefined) {
        malformed.push({
          record,
          error: new MalformedRecord({
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            reason
          })
        })
      }
    }
    return { valid, malformed }
  }
}
