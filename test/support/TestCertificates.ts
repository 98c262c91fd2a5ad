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
