import { assert, describe, it } from "@effect/vitest"
import { FINGERPRINT_NAMESPACE, fingerprintId } from "../../src/domain/Fingerprint.ts"
import {
  bytesToUuid,
  NAMESPACE_DNS,
  NAMESPACE_OID,
  NAMESPACE_URL,
  NAMESPACE_X500,
  uuidToBytes,
  uuidV5
} from "../../src/shared/NameBasedUuid.ts"

describe("NameBasedUuid (v5)", () => {
  it("matches the RFC 4122 / RFC 9562 DNS example", () => {
    // RFC 9562 Appendix A.4 (and the RFC 4122 errata example): www.example.com in the DNS namespace.
    assert.strictEqual(uuidV5(NAMESPACE_DNS, "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2")
  })

  it("matches Python's uuid.uuid5 documentation examples", () => {
    assert.strictEqual(uuidV5(NAMESPACE_DNS, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d")
    assert.strictEqual(uuidV5(NAMESPACE_URL, "http://python.org/"), "4c565f0d-3f5a-5890-b41b-20cf47701c5e")
  })

  it("sets version 5 and the RFC 4122 variant, and hashes the name as UTF-8", () => {
    for (const ns of [NAMESPACE_DNS, NAMESPACE_URL, NAMESPACE_OID, NAMESPACE_X500]) {
      for (const name of ["", "a", "ünïcödé ✓", "110/1706123400000"]) {
        const id = uuidV5(ns, name)
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        assert.strictEqual(uuidV5(ns.toUpperCase(), name), id, "namespace case does not matter")
      }
    }
    assert.notStrictEqual(uuidV5(NAMESPACE_DNS, "a"), uuidV5(NAMESPACE_URL, "a"))
  })

  it("round-trips bytes and rejects non-UUIDs", () => {
    assert.strictEqual(bytesToUuid(uuidToBytes(NAMESPACE_URL.toUpperCase())), NAMESPACE_URL)
    assert.throws(() => uuidToBytes("not-a-uuid"))
    assert.throws(() => bytesToUuid(new Uint8Array(15)))
  })

  it("fingerprint ids are a pure function of (equip_id, start_ms)", () => {
    assert.strictEqual(FINGERPRINT_NAMESPACE, uuidV5(NAMESPACE_URL, "urn:tributary:fingerprint"))
    assert.strictEqual(fingerprintId("110", 1706123400000), uuidV5(FINGERPRINT_NAMESPACE, "110/1706123400000"))
    assert.strictEqual(fingerprintId("110", 1706123400000), fingerprintId("110", 1706123400000))
    assert.notStrictEqual(fingerprintId("110", 1706123400000), fingerprintId("111", 1706123400000))
    assert.notStrictEqual(fingerprintId("110", 1706123400000), fingerprintId("110", 1706123460000))
  })
})
