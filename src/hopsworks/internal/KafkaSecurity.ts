import { Redacted, Result } from "effect"
import { createPrivateKey } from "node:crypto"
import { createSecureContext } from "node:tls"
import type { KafkaSasl, KafkaSecurityProtocol } from "../HopsworksModel.ts"
import { isJavaKeyStore, readJavaKeyStore } from "./JavaKeyStore.ts"

/**
 * How a "bring your own Kafka" connector's settings become client credentials: the security protocol,
 * SASL from `sasl.jaas.config` (Kafka's Java client option, which the connector stores as given), and
 * TLS material from the connector's stores or from Kafka's PEM options (KIP-651). Pure: the caller
 * downloads the store files. Every failure is a sentence without a secret in it.
 */

const protocols: ReadonlyArray<KafkaSecurityProtocol> = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]

export const securityProtocol = (value: string): Result.Result<KafkaSecurityProtocol, string> => {
  const upper = value.trim().toUpperCase()
  const known = protocols.find((p) => p === upper)
  return known === undefined
    ? Result.fail(`security protocol "${value}" is not one of ${protocols.join(", ")}`)
    : Result.succeed(known)
}

export const usesTls = (protocol: KafkaSecurityProtocol) => protocol === "SSL" || protocol === "SASL_SSL"
export const usesSasl = (protocol: KafkaSecurityProtocol) => protocol.startsWith("SASL_")

/** One login module entry of a JAAS configuration: `<class> <flag> key=value ...;`. */
export interface JaasEntry {
  readonly loginModule: string
  readonly flag: string
  readonly options: Readonly<Record<string, string>>
}

/**
 * Parses a `sasl.jaas.config` value. Values may be bare words or quoted with `"` or `'`, with `\`
 * escaping the next character inside quotes (as Java's StreamTokenizer, which Kafka uses, reads them).
 */
export const parseJaasConfig = (text: string): Result.Result<JaasEntry, string> => {
  const tokens: Array<{ text: string; quoted: boolean }> = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === "=" || c === ";") {
      tokens.push({ text: c, quoted: false })
      i++
    } else if (c === "\"" || c === "'") {
      let value = ""
      i++
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) i++
        value += text[i]
        i++
      }
      if (i >= text.length) return Result.fail("sasl.jaas.config has an unterminated quoted value")
      i++
      tokens.push({ text: value, quoted: true })
    } else {
      const start = i
      while (i < text.length && !/[\s=;"']/.test(text[i]!)) i++
      tokens.push({ text: text.slice(start, i), quoted: false })
    }
  }
  const [module, flag, ...rest] = tokens
  if (module === undefined || flag === undefined || module.quoted || flag.quoted) {
    return Result.fail("sasl.jaas.config does not start with a login module and its flag (e.g. \"required\")")
  }
  const options: Record<string, string> = {}
  let k = 0
  while (k < rest.length && rest[k]!.text !== ";") {
    const key = rest[k]
    const equals = rest[k + 1]
    const value = rest[k + 2]
    if (key === undefined || equals?.text !== "=" || value === undefined || (value.text === ";" && !value.quoted)) {
      return Result.fail(`sasl.jaas.config has an option without a value near "${key?.text ?? ""}"`)
    }
    options[key.text] = value.text
    k += 3
  }
  return Result.succeed({ loginModule: module.text, flag: flag.text, options })
}

const loginModules: Record<string, ReadonlyArray<KafkaSasl["mechanism"]>> = {
  "org.apache.kafka.common.security.plain.PlainLoginModule": ["plain"],
  "org.apache.kafka.common.security.scram.ScramLoginModule": ["scram-sha-256", "scram-sha-512"]
}

/**
 * SASL credentials from the connector's options: the mechanism from `sasl.mechanism` when set
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), else from the login module (SCRAM then means SCRAM-SHA-256,
 * as hsfs assumes); user name and password from `sasl.jaas.config`.
 */
export const saslFromOptions = (options: ReadonlyMap<string, string>): Result.Result<KafkaSasl, string> => {
  const jaas = options.get("sasl.jaas.config")
  if (jaas === undefined || jaas.trim() === "") {
    return Result.fail("it uses SASL but has no sasl.jaas.config option with the user name and password")
  }
  const parsed = parseJaasConfig(jaas)
  if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
  const { loginModule, options: jaasOptions } = parsed.success
  const allowed = loginModules[loginModule]
  if (allowed === undefined) {
    return Result.fail(
      `its sasl.jaas.config uses ${loginModule}; only PlainLoginModule and ScramLoginModule are supported`
    )
  }
  const named = options.get("sasl.mechanism")?.trim().toLowerCase()
  const mechanism = named === undefined || named === "" ? allowed[0]! : allowed.find((m) => m === named)
  if (mechanism === undefined) {
    return Result.fail(`its sasl.mechanism ${named!.toUpperCase()} does not go with ${loginModule}`)
  }
  const username = jaasOptions["username"]
  const password = jaasOptions["password"]
  if (username === undefined || password === undefined) {
    return Result.fail("its sasl.jaas.config lacks username or password")
  }
  return Result.succeed({ mechanism, username, password: Redacted.make(password, { label: "kafka-sasl-password" }) })
}

/** Certificates and key in PEM as read from one store, or a PKCS#12 keystore as it is (for Node's `pfx`). */
export interface StoreMaterial {
  readonly certificates: ReadonlyArray<string>
  readonly key: Redacted.Redacted | undefined
  readonly pfx?: { readonly data: Redacted.Redacted<Uint8Array>; readonly passphrase: Redacted.Redacted } | undefined
}

const pemBlocks = (text: string, label: string) =>
  text.match(new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----\\n?`, "g")) ?? []

const ensureNewline = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`)

/**
 * A private key in PEM as Node takes it: an encrypted one (`ssl.key.password`) is decrypted here,
 * so the password goes no further.
 */
export const plainPrivateKey = (pem: string, password: string | undefined): Result.Result<string, string> => {
  try {
    const key = createPrivateKey(password === undefined ? pem : { key: pem, passphrase: password })
    return Result.succeed(key.export({ type: "pkcs8", format: "pem" }).toString())
  } catch {
    return Result.fail(
      password === undefined
        ? "its private key cannot be read (encrypted without ssl.key.password?)"
        : "its private key cannot be read with ssl.key.password"
    )
  }
}

/**
 * The contents of a store file the connector names: JKS (what Hopsworks' clients read) or PEM text
 * (Kafka's `ssl.*.type=PEM` with a location). PKCS#12 is recognised and refused with the way out.
 */
export const readStore = (
  what: "truststore" | "keystore",
  bytes: Uint8Array,
  storePassword: string | undefined,
  keyPassword: string | undefined
): Result.Result<StoreMaterial, string> => {
  if (isJavaKeyStore(bytes)) {
    const read = readJavaKeyStore(bytes, storePassword, keyPassword)
    if (Result.isFailure(read)) return Result.fail(`its ${what} (JKS) cannot be read: ${read.failure}`)
    const { keys, trusted } = read.success
    if (what === "keystore") {
      const entry = keys[0]
      if (entry === undefined) return Result.fail("its keystore holds no private key")
      return Result.succeed({ certificates: entry.chain, key: Redacted.make(entry.key, { label: "kafka-client-key" }) })
    }
    if (trusted.length === 0) return Result.fail("its truststore holds no trusted certificate")
    return Result.succeed({ certificates: trusted, key: undefined })
  }
  const text = Buffer.from(bytes).toString("utf8")
  if (text.trimStart().startsWith("-----BEGIN")) {
    const certificates = pemBlocks(text, "CERTIFICATE").map(ensureNewline)
    const keyBlock = pemBlocks(text, "(?:ENCRYPTED |RSA |EC )?PRIVATE KEY")[0]
    if (certificates.length === 0) return Result.fail(`its ${what} (PEM) holds no certificate`)
    if (what === "truststore") return Result.succeed({ certificates, key: undefined })
    if (keyBlock === undefined) return Result.fail("its keystore (PEM) holds no private key")
    const key = plainPrivateKey(keyBlock, keyPassword)
    if (Result.isFailure(key)) return Result.fail(`its keystore: ${key.failure}`)
    return Result.succeed({ certificates, key: Redacted.make(key.success, { label: "kafka-client-key" }) })
  }
  if (bytes[0] === 0x30) return pkcs12(what, bytes, storePassword)
  return Result.fail(`its ${what} is neither a JKS nor a PEM file`)
}

/**
 * A PKCS#12 keystore goes to Node as it is (`pfx`), checked here so a wrong password is said at
 * start-up. Node takes no PKCS#12 without a key, so a PKCS#12 truststore is refused with the way out.
 */
const pkcs12 = (
  what: "truststore" | "keystore",
  bytes: Uint8Array,
  password: string | undefined
): Result.Result<StoreMaterial, string> => {
  if (what === "truststore") {
    return Result.fail(
      "its truststore is a PKCS#12 file, which Node cannot trust certificates from: convert it to JKS " +
        "(keytool -importkeystore -deststoretype JKS) or give the CA as PEM (ssl.truststore.certificates)"
    )
  }
  try {
    createSecureContext({ pfx: Buffer.from(bytes), ...(password === undefined ? {} : { passphrase: password }) })
  } catch {
    return Result.fail("its keystore (PKCS#12) cannot be opened with its password")
  }
  return Result.succeed({
    certificates: [],
    key: undefined,
    pfx: { data: Redacted.make(bytes), passphrase: Redacted.make(password ?? "", { label: "kafka-keystore-password" }) }
  })
}

/**
 * TLS material given inline in Kafka's own PEM options (KIP-651): `ssl.truststore.certificates`,
 * `ssl.keystore.certificate.chain` and `ssl.keystore.key` (with `ssl.key.password` when encrypted).
 */
export const pemOptions = (options: ReadonlyMap<string, string>) => {
  const truststore = options.get("ssl.truststore.certificates")
  const chain = options.get("ssl.keystore.certificate.chain")
  const key = options.get("ssl.keystore.key")
  return {
    truststore: truststore === undefined
      ? undefined
      : readStore("truststore", Buffer.from(truststore), undefined, undefined),
    keystore: chain === undefined || key === undefined
      ? undefined
      : readStore("keystore", Buffer.from(`${ensureNewline(key)}${chain}`), undefined, options.get("ssl.key.password"))
  }
}

/** Connector options that carry secrets or key material: read into credentials, never passed on or logged. */
export const secretOptions = new Set([
  "sasl.jaas.config",
  "ssl.truststore.certificates",
  "ssl.truststore.password",
  "ssl.keystore.certificate.chain",
  "ssl.keystore.key",
  "ssl.keystore.password",
  "ssl.key.password"
])
