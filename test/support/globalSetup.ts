import { execFileSync } from "node:child_process"
import { createConnection } from "node:net"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    kafkaBootstrap: string
  }
}

const probe = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port, timeout: 1_000 })
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
  })

/**
 * Finds the local Kafka broker the integration tests use, starting it with the project's own script
 * when it is not up. A broker that cannot be started fails the whole run: integration tests are never skipped.
 */
export default async function setup(project: TestProject) {
  const bootstrap = process.env["TRIBUTARY_TEST_KAFKA"] ?? `127.0.0.1:${process.env["TRIBUTARY_KAFKA_PORT"] ?? "19092"}`
  const [host = "127.0.0.1", port = "19092"] = bootstrap.split(":")
  if (!(await probe(host, Number(port)))) {
    console.log(`[tests] no Kafka broker at ${bootstrap}; starting one with scripts/kafka.sh`)
    try {
      execFileSync("bash", ["scripts/kafka.sh", "start"], { stdio: "inherit" })
    } catch (error) {
      throw new Error("[tests] the Kafka broker needed by the integration tests could not be started", { cause: error })
    }
  }
  console.log(`[tests] integration tests use the Kafka broker at ${bootstrap}`)
  project.provide("kafkaBootstrap", bootstrap)
}
