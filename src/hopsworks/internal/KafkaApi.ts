import { Effect, Option, Redacted, Result } from "effect"
import { HttpClientRequest } from "effect/http"
import { type HopsworksError, KafkaConnectorUnusable, SubjectNotFound, UnexpectedResponse } from "../HopsworksError.ts"
import type { KafkaConnection, KafkaTls, KafkaTopicSpec } from "../HopsworksModel.ts"
import { CredentialsDTO, KafkaConnectorDTO, SubjectCreated, SubjectDTO, type TopicCreate } from "../HopsworksSchemas.ts"
import { asHopsworksError, type HopsworksHttp, type Operation, optionalCode } from "./HopsworksHttp.ts"
import {
  pemOptions,
  readStore,
  saslFromOptions,
  secretOptions,
  securityProtocol as securityProtocolOf,
  usesSasl,
  usesTls
} from "./KafkaSecurity.ts"
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

const unusable = (detail: string) => asHopsworksError(new KafkaConnectorUnusable({ detail }))

const orUnusable = <A>(result: Result.Result<A, string>): Effect.Effect<A, HopsworksError> =>
  Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(unusable(result.failure))

/** A null or empty connector field means "not set". */
const given = (value: string | null | undefined): string | undefined =>
  value === null || value === undefined || value === "" ? undefined : value

/** Kafka: the connector and credentials to produce with, project subjects and topics (protocol page §5, §8). */
export const makeKafkaApi = (http: HopsworksHttp, context: Effect.Effect<ProjectContext, HopsworksError>) => {
  const enc = encodeURIComponent

  /**
   * A file of the project's datasets as bytes (`GET /project/{id}/dataset/download/with_auth/{path}`,
   * as hsfs reads a connector's stores). `location` may be `hdfs://<namenode>/Projects/...` or `/Projects/...`.
   */
  const downloadFile = (ctx: ProjectContext, location: string, what: string) => {
    const path = location.replace(/^hdfs:\/\/[^/]*/, "").replace(/^\/+/, "")
    const op: Operation = { description: `download the Kafka connector's ${what} ${location}`, scope: "DATASET_VIEW" }
    return http.send(
      op,
      HttpClientRequest.get(
        `/project/${ctx.projectId}/dataset/download/with_auth/${path.split("/").map(enc).join("/")}`,
        {
          urlParams: { type: path.startsWith("apps/hive/warehouse/") ? "HIVEDB" : "DATASET" }
        }
      )
    ).pipe(
      Effect.flatMap((response) =>
        Effect.mapError(response.arrayBuffer, (e) =>
          asHopsworksError(
            new UnexpectedResponse({ operation: op.description, status: response.status, detail: e.message })
          ))
      ),
      http.recover(op, () => undefined)
    )
  }

  /** A store the connector names, downloaded and read (undefined when it names none). */
  const connectorStore = (
    ctx: ProjectContext,
    what: "truststore" | "keystore",
    location: string | undefined,
    storePassword: string | undefined,
    keyPassword: string | undefined
  ) =>
    location === undefined
      ? Effect.succeed(undefined)
      : Effect.flatMap(
        downloadFile(ctx, location, what),
        (bytes) => orUnusable(readStore(what, new Uint8Array(bytes), storePassword, keyPassword))
      )

  /**
   * TLS for a BYOK connector: Kafka's inline PEM options when given, else its truststore and keystore
   * files; without a truststore the public CAs are trusted. Host names are checked unless the
   * connector's endpoint identification algorithm is "" (Kafka's default is HTTPS).
   */
  const byokTls = Effect.fnUntraced(
    function*(ctx: ProjectContext, connector: KafkaConnectorDTO, options: ReadonlyMap<string, string>) {
      const inline = pemOptions(options)
      const trust = inline.truststore === undefined
        ? yield* connectorStore(
          ctx,
          "truststore",
          given(connector.sslTruststoreLocation),
          given(connector.sslTruststorePassword),
          undefined
        )
        : yield* orUnusable(inline.truststore)
      const keys = inline.keystore === undefined
        ? yield* connectorStore(
          ctx,
          "keystore",
          given(connector.sslKeystoreLocation),
          given(connector.sslKeystorePassword),
          given(connector.sslKeyPassword) ?? given(connector.sslKeystorePassword)
        )
        : yield* orUnusable(inline.keystore)
      const algorithm = connector.sslEndpointIdentificationAlgorithm ??
        options.get("ssl.endpoint.identification.algorithm") ?? "https"
      return {
        ca: trust?.certificates.join(""),
        cert: keys === undefined || keys.certificates.length === 0 ? undefined : keys.certificates.join(""),
        key: keys?.key,
        pfx: keys?.pfx,
        verifyHostname: algorithm.trim().toUpperCase() === "HTTPS"
      } satisfies KafkaTls
    }
  )

  /**
   * Hopsworks-managed Kafka: the project user's certificate. As hsfs does, the CA certificates of the
   * user's chain are trusted along with the CA chain (the brokers' certificates may be signed by them).
   */
  const managedTls = Effect.fnUntraced(function*(ctx: ProjectContext) {
    const credOp: Operation = { description: "get the project user's Kafka certificates", scope: "PROJECT" }
    const creds = yield* http.json(
      credOp,
      HttpClientRequest.get(`/project/${ctx.projectId}/credentials`),
      CredentialsDTO
    )
    const issuers =
      creds.clientCert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.slice(1) ?? []
    return {
      ca: [creds.caChain, ...issuers].map((pem) => (pem.endsWith("\n") ? pem : `${pem}\n`)).join(""),
      cert: creds.clientCert,
      key: Redacted.make(creds.clientKey, { label: "hopsworks-client-key" }),
      // The server sends sslEndpointIdentificationAlgorithm "" for its brokers.
      verifyHostname: false
    } satisfies KafkaTls
  })

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
    const securityProtocol = yield* orUnusable(securityProtocolOf(connector.securityProtocol))
    const options = new Map((connector.options ?? []).map((o) => [o.name, o.value ?? ""] as const))
    const tls: Option.Option<KafkaTls> = !usesTls(securityProtocol)
      ? Option.none()
      : Option.some(externalKafka ? yield* byokTls(ctx, connector, options) : yield* managedTls(ctx))
    const sasl = externalKafka && usesSasl(securityProtocol)
      ? Option.some(yield* orUnusable(saslFromOptions(options)))
      : Option.none()
    return {
      bootstrapServers,
      securityProtocol,
      tls,
      sasl,
      externalKafka,
      options: [...options].filter(([name]) => !secretOptions.has(name)).map(([name, value]) => ({ name, value }))
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
