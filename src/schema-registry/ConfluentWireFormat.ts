/**
 * The Confluent wire format: a zero magic byte, the schema id as a 4-byte big-endian integer, then
 * the serialized value (Avro binary for Avro schemas).
 */

export const magicByte = 0
export const headerBytes = 5

export type Frame =
  | { readonly _tag: "Frame"; readonly schemaId: number; readonly payload: Buffer }
  | { readonly _tag: "NotFramed"; readonly reason: string }

/** Splits a record value into its schema id and payload, or says why it is not a frame. */
export const parseFrame = (value: Buffer | null): Frame => {
  if (value === null) return { _tag: "NotFramed", reason: "empty value (tombstone)" }
  if (value.length === 0) return { _tag: "NotFramed", reason: "empty value: no Confluent wire-format header" }
  if (value[0] !== magicByte) {
    return {
      _tag: "NotFramed",
      reason: `not in the Confluent wire format: magic byte is 0x${
        value[0]!.toString(16).padStart(2, "0")
      }, expected 0x00`
    }
  }
  if (value.length < headerBytes) {
    return {
      _tag: "NotFramed",
      reason: `truncated Confluent frame: ${value.length} bytes, the header alone takes ${headerBytes}`
    }
  }
  return { _tag: "Frame", schemaId: value.readUInt32BE(1), payload: value.subarray(headerBytes) }
}

/** The schema id of a record's frame, when it has one (for resolving a batch's schemas first). */
export const frameSchemaId = (value: Buffer | null): number | undefined =>
  value !== null && value.length >= headerBytes && value[0] === magicByte ? value.readUInt32BE(1) : undefined

/** Frames a serialized value with its schema id. */
export const frame = (schemaId: number, payload: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(headerBytes + payload.length)
  out[0] = magicByte
  out.writeUInt32BE(schemaId, 1)
  payload.copy(out, headerBytes)
  return out
}
