import { Effect, Option, Redacted } from "effect"
import { HttpClientRequest } from "effect/http"
import { type HopsworksError, SubjectNotFound, UnexpectedResponse } from "../HopsworksError.ts"
import type { KafkaConnection, KafkaTopicSpec } from "../HopsworksModel.ts"
import { CredentialsDTO, KafkaConnectorDTO, SubjectCreated, SubjectDTO, type TopicCreate } from "../HopsworksSchemas.ts"
import { asHopsworksError, type HopsworksHttp, type Operation, optionalCode } from "./HopsworksHttp.ts"
import type { ProjectContext } from "./ProjectContext.ts"

/**
 * `GET <subjects>/{subject}/versions/{version}` (`version`: a number or "latest") from the schema
 * registry under the path `subjects`; 404 is SubjectNotFound.
 */
export const getSubject = (http: HopsworksHttp, subjects: string, subject: string, version: string) => {
  const op: Operation = { description: `get the Avro subject "${subject}"`, scope: "KAFKA" }
  return http.send(op, HttpClientRequest.get(`${subjects}/${encodeURIComponent(subject)}/versions/${version}`)).pipe(
    Effect.flatMap(http.decode(op, SubjectDTO)),
    http.recover(op, (rejected) =>
      rejected.status === 404
        ? Effect.fail(asHopsworksError(new SubjectNotFound({ subject, ...optionalCode(rejected.errorCode) })))
        : undefined)
  )
}

/** Kafka: the connector and credentials to produce with, project subjects and topics (protocol page §5, §8). */
export const makeKafkaApi = (http: HopsworksHttp, context: Effect.Effect<ProjectContext, HopsworksError>) => {
  const enc = encodeURIComponent

  const kafkaConnection = Effect.fn("HopsworksClient.kafkaConnection")(function*() {
    const ctx = yield* context
    const op: Operation = { description: "get the Kafka connection (kafka_connector)", scope: "FEATURESTORE" }
    const response = yield* http.send(
      op,
      HttpClientRequest.get(
        `/project/${ctx.projectId}/featurestores/${ctx.featureStoreId}/storageconnectors/kafka_connector/byok`,
        { urlParams: { external: String(!http.settings.kafkaInternal) } }
      )
    ).pipe(http.recover(op, () => undefined))
    const connector = yield* http.decode(op, KafkaConnectorDTO)(response)
    const externalKafka = connector.externalKafka ?? false
    const bootstrapServers = connector.bootstrapServers.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    if (bootstrapServers.length === 0) {
      return yield* asHopsworksError(
        new UnexpectedResponse({ operation: op.description, status: response.status, detail: "no bootstrap servers" })
      )
    }
    const connectorOptions = (connector.options ?? []).map((o) => ({ name: o.name, value: o.value ?? "" }))
    let tls: KafkaConnection["tls"] = Option.none()
    if (!externalKafka && connector.securityProtocol.toUpperCase().includes("SSL")) {
      const credOp: Operation = { description: "get the project user's Kafka certificates", scope: "PROJECT" }
      const creds = yield* http.json(
        credOp,
        HttpClientRequest.get(`/project/${ctx.projectId}/credentials`),
        CredentialsDTO
      )
      tls = Option.some({
        ca: creds.caChain,
        cert: creds.clientCert,
        key: Redacted.make(creds.clientKey, { label: "hopsworks-client-key" })
      })
    }
    return {
      bootstrapServers,
      securityProtocol: connector.securityProtocol,
      tls,
      externalKafka,
      options: connectorOptions
    } satisfies KafkaConnection
  })

  /** Registers `avroSchema` (when given) and returns the subject version the topic is to use. */
  const subjectVersion = Effect.fnUntraced(
    function*(ctx: ProjectContext, schema: NonNullable<KafkaTopicSpec["schema"]>) {
      const subject = schema.subject
      if (schema.avroSchema !== undefined) {
        // The registry answers the same schema with the same version: repeatable.
        const regOp: Operation = {
          description: `register the Avro schema "${subject}"`,
          scope: "KAFKA",
          creates: "repeatable"
        }
        yield* http.json(
          regOp,
          HttpClientRequest.post(`/project/${ctx.projectId}/kafka/subjects/${enc(subject)}/versions`).pipe(
            HttpClientRequest.bodyJsonUnsafe({ schema: schema.avroSchema })
          ),
          SubjectCreated
        )
      }
      const version = schema.avroSchema === undefined && schema.version !== undefined
        ? String(schema.version)
        : "latest"
      const found = yield* getSubject(http, `/project/${ctx.projectId}/kafka/subjects`, subject, version)
      return { name: subject, version: found.version }
    }
  )

  const createKafkaTopic = Effect.fn("HopsworksClient.createKafkaTopic")(function*(spec: KafkaTopicSpec) {
    const ctx = yield* context
    const schemaRef = spec.schema === undefined ? undefined : yield* subjectVersion(ctx, spec.schema)
    const body: TopicCreate = {
      name: spec.name,
      numOfPartitions: spec.partitions,
      numOfReplicas: spec.replicas,
      ...(schemaRef === undefined ? {} : { schemaName: schemaRef.name, schemaVersion: schemaRef.version })
    }
    // Repeatable: topic names are unique, a repeat is answered 409. The answer's body is not needed:
    // 2xx is "created", 409 (190002) "already there" (also when an earlier attempt's answer was lost).
    const op: Operation = {
      description: `create the Kafka topic "${spec.name}"`,
      scope: "KAFKA",
      creates: "repeatable"
    }
    return yield* http.send(
      op,
      HttpClientRequest.post(`/project/${ctx.projectId}/kafka/topics`).pipe(HttpClientRequest.bodyJsonUnsafe(body))
    ).pipe(
      Effect.as({ created: true }),
      http.recover(op, (rejected) => (rejected.status === 409 ? Effect.succeed({ created: false }) : undefined))
    )
  })

  return { kafkaConnection, createKafkaTopic }
}
