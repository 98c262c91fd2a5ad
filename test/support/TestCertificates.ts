import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** PEM material made for one test run: a private CA, and a server and a client certificate it signed. */
export interface TestCertificates {
  readonly dir: string
  readonly caFile: string
  readonly ca: string
  /** For 127.0.0.1 / localhost. */
  readonly serverCert: string
  readonly serverKey: string
  /** A client certificate (CN `tributary-client`) for mutual TLS. */
  readonly clientCert: string
  readonly clientKey: string
}

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })

/** Generates the certificates with `openssl` in a fresh temporary directory (a second or so). */
export const makeTestCertificates = (): TestCertificates => {
  const dir = mkdtempSync(join(tmpdir(), "tributary-certs-"))
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=Tributary Test CA"
  ])
  const sign = (name: string, subject: string, extensions: string) => {
    openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject
    ])
    execFileSync("sh", ["-c", `printf '%s\\n' "${extensions}" > ${name}.ext`], { cwd: dir })
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`
    ])
  }
  sign("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost")
  sign("client", "/CN=tributary-client", "extendedKeyUsage=clientAuth")
  const read = (file: string) => readFileSync(join(dir, file), "utf8")
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    ca: read("ca.pem"),
    serverCert: read("server.pem"),
    serverKey: read("server.key"),
    clientCert: read("client.pem"),
    clientKey: read("client.key")
  }
}

/** The client certificate and the CA as Java stores, the way Hopsworks keeps and hands them out. */
export interface JavaStores {
  readonly password: string
  /** JKS with the CA as trusted certificate. */
  readonly truststoreJks: Buffer
  /** JKS with the client key and its chain (client certificate, CA). */
  readonly keystoreJks: Buffer
  /** The same key and chain as PKCS#12 (keytool's default store type since Java 9). */
  readonly keystorePkcs12: Buffer
  /** A PKCS#12 store with only the CA, as `keytool -importcert` makes by default. */
  readonly truststorePkcs12: Buffer
}

/** Makes the stores with `openssl pkcs12` and the JDK's `keytool` (a few seconds: keytool is a JVM). */
export const makeJavaStores = (certs: TestCertificates, password: string): JavaStores => {
  const run = (command: string, args: ReadonlyArray<string>) =>
    execFileSync(command, args, { cwd: certs.dir, stdio: ["ignore", "ignore", "pipe"] })
  const pass = `pass:${password}`
  run("openssl", [
    "pkcs12",
    "-export",
    "-in",
    "client.pem",
    "-inkey",
    "client.key",
    "-certfile",
    "ca.pem",
    "-name",
    "client",
    "-out",
    "keystore.p12",
    "-passout",
    pass
  ])
  const keytool = (args: ReadonlyArray<string>) => run("keytool", ["-noprompt", ...args])
  keytool([
    "-importkeystore",
    "-srckeystore",
    "keystore.p12",
    "-srcstoretype",
    "PKCS12",
    "-srcstorepass",
    password,
    "-destkeystore",
    "keystore.jks",
    "-deststoretype",
    "JKS",
    "-deststorepass",
    password,
    "-destkeypass",
    password
  ])
  for (const [file, type] of [["truststore.jks", "JKS"], ["truststore.p12", "PKCS12"]] as const) {
    keytool([
      "-importcert",
      "-alias",
      "ca",
      "-file",
      "ca.pem",
      "-keystore",
      file,
      "-storetype",
      type,
      "-storepass",
      password
    ])
  }
  const read = (file: string) => readFileSync(join(certs.dir, file))
  return {
    password,
    truststoreJks: read("truststore.jks"),
    keystoreJks: read("keystore.jks"),
    keystorePkcs12: read("keystore.p12"),
    truststorePkcs12: read("truststore.p12")
  }
}
