import { execFileSync } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")

/**
 * A Kafka broker of a test's own (scripts/kafka.sh with its own home under .it/ and its own port),
 * for tests that stop it or need a second cluster without disturbing the shared one.
 */
export const extraBroker = (name: string, port: number) => {
  const env = { ...process.env, TRIBUTARY_KAFKA_HOME: join(root, ".it", name), TRIBUTARY_KAFKA_PORT: String(port) }
  return {
    address: `127.0.0.1:${port}`,
    port,
    run: (action: "start" | "stop" | "reset"): void => {
      execFileSync("bash", [join(root, "scripts", "kafka.sh"), action], {
        env,
        stdio: ["ignore", "ignore", "inherit"],
        timeout: 150_000
      })
    }
  }
}
