import { Result } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

/**
 * Reads a Java KeyStore (JKS) file into PEM, the form Node's TLS takes. Hopsworks hands a "bring your
 * own Kafka" connector's truststore and keystore over as such files (both hsfs clients read them as JKS).
 *
 * The format: magic 0xFEEDFEED, version, entry count, entries (1 = private key with its certificate
 * chain, 2 = trusted certificate), then SHA-1(password as UTF-16BE + "Mighty Aphrodite" + everything
 * before) as integrity check. Private keys are PKCS#8 protected with Sun's own scheme (OID
 * 1.3.6.1.4.1.42.2.17.1.1): salt(20) + key XOR a SHA-1 keystream + SHA-1(password + key).
 */

export interface KeyStoreContents {
  /** Trusted certificate entries, PEM. */
  readonly trusted: ReadonlyArray<string>
  /** Private key entries: the key (PKCS#8 PEM) and its certificate chain (PEM, leaf first). */
  readonly keys: ReadonlyArray<{ readonly key: string; readonly chain: ReadonlyArray<string> }>
}

const jksMagic = 0xfeedfeed
const sunKeyProtector = "1.3.6.1.4.1.42.2.17.1.1"

export const isJavaKeyStore = (bytes: Uint8Array): boolean =>
  bytes.length >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32BE(0) === jksMagic

/** DER bytes as a PEM block, 64 characters a line. */
export const derToPem = (der: Uint8Array, label: string): string => {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

const passwordBytes = (password: string) => Buffer.from(password, "utf16le").swap16()

/** Sequential big-endian reads over the file; running past its end throws (caught by the caller). */
const reader = (bytes: Buffer) => {
  let offset = 0
  const take = (n: number) => {
    if (offset + n > bytes.length) throw new Error("the file ends in the middle of an entry")
    offset += n
    return offset - n
  }
  const skip = (n: number) => void take(n)
  const u16 = () => bytes.readUInt16BE(take(2))
  return {
    u16,
    u32: () => bytes.readUInt32BE(take(4)),
    skip,
    slice: (n: number) => {
      const start = take(n)
      return bytes.subarray(start, start + n)
    },
    /** A string written by Java's DataOutput.writeUTF: skipped (aliases and certificate types). */
    skipUtf: () => skip(u16())
  }
}

/** The children of a DER SEQUENCE as [tag, contents] (definite lengths only, as DER has). */
const derChildren = (der: Buffer): Array<[number, Buffer]> => {
  const children: Array<[number, Buffer]> = []
  let i = 0
  while (i < der.length) {
    const tag = der[i]!
    let length = der[i + 1]!
    i += 2
    if (length & 0x80) {
      const octets = length & 0x7f
      length = 0
      for (let k = 0; k < octets; k++) length = length * 256 + der[i + k]!
      i += octets
    }
    children.push([tag, der.subarray(i, i + length)])
    i += length
  }
  return children
}

const oidText = (der: Buffer) => {
  const parts = [Math.floor(der[0]! / 40), der[0]! % 40]
  let value = 0
  for (const byte of der.subarray(1)) {
    value = value * 128 + (byte & 0x7f)
    if ((byte & 0x80) === 0) {
      parts.push(value)
      value = 0
    }
  }
  return parts.join(".")
}

/** The PKCS#8 key inside a JKS private key entry (EncryptedPrivateKeyInfo DER). */
const recoverKey = (encryptedInfo: Buffer, password: Buffer): Buffer => {
  const [info] = derChildren(encryptedInfo)
  const [algorithm, data] = derChildren(info![1])
  const oid = derChildren(algorithm![1])[0]
  if (oid === undefined || oidText(oid[1]) !== sunKeyProtector) {
    throw new Error("a private key is protected with an algorithm other than JKS's own (not a JKS key entry)")
  }
  const protectedKey = data![1]
  const salt = protectedKey.subarray(0, 20)
  const encrypted = protectedKey.subarray(20, protectedKey.length - 20)
  const check = protectedKey.subarray(protectedKey.length - 20)
  const key = Buffer.alloc(encrypted.length)
  let digest: Buffer = salt
  for (let i = 0; i < encrypted.length; i += 20) {
    digest = createHash("sha1").update(password).update(digest).digest()
    for (let j = 0; j < 20 && i + j < encrypted.length; j++) key[i + j] = encrypted[i + j]! ^ digest[j]!
  }
  const expected = createHash("sha1").update(password).update(key).digest()
  if (!timingSafeEqual(expected, check)) throw new Error("the key password does not open its private key")
  return key
}

/**
 * The contents of a JKS file. `storePassword` checks the file's integrity (undefined: not checked, as
 * Java allows for a truststore); `keyPassword` opens private keys (Kafka's `ssl.key.password`,
 * defaulting to the store password). Failures say what is wrong, never a password.
 */
export const readJavaKeyStore = (
  bytes: Uint8Array,
  storePassword: string | undefined,
  keyPassword: string | undefined = storePassword
): Result.Result<KeyStoreContents, string> => {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    if (!isJavaKeyStore(data)) return Result.fail("not a JKS file")
    if (storePassword !== undefined) {
      const body = data.subarray(0, data.length - 20)
      const digest = createHash("sha1").update(passwordBytes(storePassword)).update("Mighty Aphrodite", "utf8")
        .update(body).digest()
      if (!timingSafeEqual(digest, data.subarray(data.length - 20))) {
        return Result.fail("its password does not match (the integrity check failed)")
      }
    }
    const read = reader(data)
    read.skip(4)
    const version = read.u32()
    if (version !== 1 && version !== 2) return Result.fail(`unknown JKS version ${version}`)
    const readCertificate = () => {
      if (version === 2) read.skipUtf() // the certificate type, "X.509"
      return derToPem(read.slice(read.u32()), "CERTIFICATE")
    }
    const trusted: Array<string> = []
    const keys: Array<{ key: string; chain: Array<string> }> = []
    const count = read.u32()
    for (let n = 0; n < count; n++) {
      const tag = read.u32()
      read.skipUtf() // alias
      read.skip(8) // creation time
      if (tag === 2) {
        trusted.push(readCertificate())
      } else if (tag === 1) {
        const encrypted = read.slice(read.u32())
        const chain = Array.from({ length: read.u32() }, readCertificate)
        if (keyPassword === undefined) return Result.fail("it holds a private key but no password was given for it")
        keys.push({ key: derToPem(recoverKey(encrypted, passwordBytes(keyPassword)), "PRIVATE KEY"), chain })
      } else {
        return Result.fail(`unknown entry type ${tag} (a JCEKS secret key?)`)
      }
    }
    return Result.succeed({ trusted, keys })
  } catch (error) {
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}
