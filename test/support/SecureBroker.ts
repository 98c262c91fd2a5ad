import { Kafka, logLevel } from "kafkajs"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import type { TestCertificates } from "./TestCertificates.ts"

const root = join(import.meta.dirname, "..", "..")
const lib = join(root, ".it", "kafka", "lib")
const clusterId = "U2VjdXJlQnJva2VyVGVzdA"

/** A SCRAM-SHA-512 (and PLAIN) user of the SASL_SSL listener. */
export interface BrokerUser {
  readonly name: string
  readonly password: string
}

export interface SecureBroker {
  /** Unauthenticated, for the stand-in's admin (Hopsworks' own access) and inter-broker traffic. */
  readonly plaintext: string
  /** SASL (SCRAM-SHA-512 or PLAIN) over TLS: the "bring your own Kafka" cluster. */
  readonly saslSsl: string
  /** TLS with client certificates required: Hopsworks-managed Kafka. */
  readonly mutualTls: string
  readonly user: BrokerUser
  readonly stop: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const javaOptions = (home: string) => [
  "-Xms256m",
  "-Xmx512m",
  "-XX:+UseG1GC",
  "-XX:TieredStopAtLevel=1",
  "-Djava.awt.headless=true",
  `-Dkafka.logs.dir=${join(home, "logs")}`,
  `-Dlog4j2.configurationFile=${join(root, "scripts", "kafka", "log4j2.properties")}`,
  "-cp",
  join(lib, "*")
]

/** Stops a broker a previous run of this helper left behind (its pid file, and only if it is that broker). */
const stopLeftover = (home: string) => {
  const pidFile = join(home, "pid")
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, "utf8"))
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(home)) process.kill(pid, "SIGKILL")
  } catch {
    // gone already
  }
  rmSync(pidFile, { force: true })
}

/**
 * A broker of a test's own, from the project's Kafka jars (scripts/kafka.sh installs them), with the
 * listeners a real feature store cluster has: SASL_SSL (SCRAM users created at format time with the
 * broker's own `StorageTool format --add-scram`) and SSL requiring a client certificate signed by the
 * test CA, plus a PLAINTEXT one for administration. Fresh data under .it/<name> each start; free ports.
 */
export const startSecureBroker = async (
  name: string,
  certs: TestCertificates,
  user: BrokerUser,
  timeoutMs = 90_000
): Promise<SecureBroker> => {
  if (!existsSync(lib)) {
    throw new Error(`no Kafka jars in ${lib}: run \`bash scripts/kafka.sh install\``)
  }
  const home = join(root, ".it", name)
  stopLeftover(home)
  rmSync(home, { recursive: true, force: true })
  mkdirSync(join(home, "logs"), { recursive: true })
  const [plain, saslSsl, ssl, controller] = [await freePort(), await freePort(), await freePort(), await freePort()]

  // The broker reads PEM directly (KIP-651): key and chain in one file, the CA as its truststore.
  const keystore = join(home, "server-keystore.pem")
  writeFileSync(keystore, certs.serverKey + certs.serverCert)
  const template = readFileSync(join(root, "scripts", "kafka", "server.properties"), "utf8")
    .replaceAll("@PORT@", String(plain))
    .replaceAll("@CONTROLLER_PORT@", String(controller))
    .replaceAll("@DATA_DIR@", join(home, "data"))
  // Later keys win in a properties file: these replace the template's listener lines.
  const config = join(home, "server.properties")
  writeFileSync(
    config,
    `${template}
listeners=PLAINTEXT://127.0.0.1:${plain},SASL_SSL://127.0.0.1:${saslSsl},SSL://127.0.0.1:${ssl},CONTROLLER://127.0.0.1:${controller}
advertised.listeners=PLAINTEXT://127.0.0.1:${plain},SASL_SSL://127.0.0.1:${saslSsl},SSL://127.0.0.1:${ssl}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${user.name}="${user.password}";
ssl.keystore.type=PEM
ssl.keystore.location=${keystore}
ssl.truststore.type=PEM
ssl.truststore.location=${certs.caFile}
listener.name.ssl.ssl.client.auth=required
`
  )
  execFileSync("java", [
    ...javaOptions(home),
    "kafka.tools.StorageTool",
    "format",
    "-t",
    clusterId,
    "-c",
    config,
    "--add-scram",
    `SCRAM-SHA-512=[name=${user.name},password=${user.password}]`
  ], { stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 })

  const log = openSync(join(home, "logs", "server.out"), "a")
  const child: ChildProcess = spawn("java", [...javaOptions(home), "kafka.Kafka", config], {
    stdio: ["ignore", log, log]
  })
  closeSync(log)
  writeFileSync(join(home, "pid"), String(child.pid))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const killed = setTimeout(() => child.kill("SIGKILL"), 20_000)
      await exited
      clearTimeout(killed)
    }
    rmSync(join(home, "pid"), { force: true })
  }

  const plaintext = `127.0.0.1:${plain}`
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`the secure test broker exited:\n${readFileSync(join(home, "logs", "server.out"), "utf8")}`)
    }
    if (await answers(plaintext)) break
    if (Date.now() - started > timeoutMs) {
      await stop()
      throw new Error(`the secure test broker did not answer within ${timeoutMs} ms (logs in ${home}/logs)`)
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  return { plaintext, saslSsl: `127.0.0.1:${saslSsl}`, mutualTls: `127.0.0.1:${ssl}`, user, stop }
}

const answers = async (broker: string) => {
  const admin = new Kafka({
    clientId: "secure-broker-probe",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    retry: { retries: 0 }
  }).admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    // FindCoordinator makes the broker create its offsets topic now, before a test's first group joins.
    await admin.describeGroups(["secure-broker-warm-up"])
    return cluster.brokers.length > 0
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
