/**
 * Name-based UUIDs, version 5 (RFC 4122 / RFC 9562 §5.5): SHA-1 of a namespace UUID followed by a
 * name, with the version and variant bits set. The same (namespace, name) always gives the same UUID,
 * which is what makes replayed outputs (e.g. a fingerprint re-emitted after a restart) carry the same id.
 */
import { createHash } from "node:crypto"

/** RFC 4122 Appendix C namespaces. */
export const NAMESPACE_DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
export const NAMESPACE_URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
export const NAMESPACE_OID = "6ba7b812-9dad-11d1-80b4-00c04fd430c8"
export const NAMESPACE_X500 = "6ba7b814-9dad-11d1-80b4-00c04fd430c8"

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const isUuid = (s: string): boolean => UUID_PATTERN.test(s)

/** The 16 bytes of a UUID in its canonical text form (hyphens, any case). */
export const uuidToBytes = (uuid: string): Buffer => {
  if (!isUuid(uuid)) throw new RangeError(`not a UUID: ${uuid}`)
  return Buffer.from(uuid.replace(/-/g, ""), "hex")
}

/** Canonical lower-case text form of 16 bytes. */
export const bytesToUuid = (bytes: Uint8Array): string => {
  if (bytes.length !== 16) throw new RangeError(`a UUID has 16 bytes, got ${bytes.length}`)
  const hex = Buffer.from(bytes).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** UUID v5 of `name` (UTF-8) in `namespace`. */
export const uuidV5 = (namespace: string, name: string): string => {
  const hash = createHash("sha1").update(uuidToBytes(namespace)).update(name, "utf8").digest()
  const bytes = hash.subarray(0, 16)
  bytes[6] = (bytes[6]! & 0x0f) | 0x50 // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80 // RFC 4122 variant (10xx)
  return bytesToUuid(bytes)
}
