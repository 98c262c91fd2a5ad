import type { TestProject } from "vitest/node"
import { ensureStarted, probeAddress } from "./LocalService.ts"

declare module "vitest" {
  export interface ProvidedContext {
    kafkaBootstrap: string
    schemaRegistryUrl: string
  }
}

/**
 * Finds the local Kafka broker the integration tests use, starting it with the project's own script
 * when it is not up. A broker that cannot be started fails the whole run: integration tests are never skipped.
 */
export default async function setup(project: TestProject) {
  const bootstrap = process.env["TRIBUTARY_TEST_KAFKA"] ?? `127.0.0.1:${process.env["TRIBUTARY_KAFKA_PORT"] ?? "19092"}`
  await ensureStarted({
    script: "kafka",
    reachable: await probeAddress(bootstrap, "19092"),
    notFound: `no Kafka broker at ${bootstrap}; starting one with scripts/kafka.sh`,
    what: "the Kafka broker"
  })
  console.log(`[tests] integration tests use the Kafka broker at ${bootstrap}`)
  project.provide("kafkaBootstrap", bootstrap)

  // The Confluent-compatible schema registry (Apicurio) for registry-framed Avro input.
  const registryPort = process.env["TRIBUTARY_SCHEMA_REGISTRY_PORT"] ?? "18081"
  await ensureStarted({
    script: "schema-registry",
    reachable: await probeAddress(`127.0.0.1:${registryPort}`, registryPort),
    notFound: `no schema registry at 127.0.0.1:${registryPort}; starting one with scripts/schema-registry.sh`,
    what: "the schema registry"
  })
  project.provide("schemaRegistryUrl", `http://127.0.0.1:${registryPort}/apis/ccompat/v7`)
}
