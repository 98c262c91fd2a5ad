import { Effect, type Layer } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { HopsworksConfig, type HopsworksSettings } from "../../src/config/HopsworksConfig.ts"
import { buildFeatureGroupAvroSchemaString, hiveTypeProblem } from "../../src/hopsworks/AvroSchemaBuilder.ts"
import type { ApiKeyScope } from "../../src/hopsworks/HopsworksError.ts"
import { entityNamePattern, onlineSchemaProblem, onlineTypeOf } from "../../src/hopsworks/OnlineTypes.ts"
import type { JavaStores, TestCertificates } from "./TestCertificates.ts"

/**
 * A stand-in Hopsworks REST server for tests: node:http on 127.0.0.1 (random port), answering the
 * paths HopsworksClient uses with the bodies the real server sends (protocol page), checking the
 * `Authorization: ApiKey <key>` header, and able to misbehave on demand (403 per scope or role, 5xx N
 * times, an answer that comes late or never after the work is done). It is as strict as the server
 * where a client could get it wrong: names, online types, unknown fields in a feature group body.
 * Creating a feature group registers its Avro subject (AvroSchemaBuilder) and, when a Kafka bootstrap
 * is given, creates its topic on the real broker. Executions stay running until `finishExecutions`.
 * Every request is recorded.
 */

export interface LocalHopsworksOptions {
  readonly apiKey?: string
  readonly project?: string
  readonly projectId?: number
  readonly featureStoreId?: number
  /** Real broker the byok connector points at; when set, FG / project topics are created on it. */
  readonly kafkaBootstrap?: string
  /** False: `online_ingestion` answers 404 like a 4.0/4.1 server. Default true. */
  readonly onlineIngestion?: boolean
  /** Serve HTTPS with this certificate (PEM) instead of plain HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string }
  /**
   * The Kafka the feature store names (default: a PLAINTEXT "bring your own" connector on
   * `kafkaBootstrap`, which stays the address topics are created through in every case).
   */
  readonly kafka?: LocalKafka
}

/**
 * `Byok`: the connector `kafka_connector` with these fields over the PLAINTEXT default, and the
 * project files it names (its stores), served by the dataset download endpoint.
 * `Managed`: Hopsworks' own Kafka as a real cluster serves it: the synthesized connector (id -1,
 * SSL, no endpoint identification, `externalKafka: false`) and `/kafka/clusterinfo` on
 * `bootstrapServers`, and `/credentials` answering `credentials`.
 */
export type LocalKafka =
  | {
    readonly _tag: "Byok"
    readonly connector: Readonly<Record<string, unknown>>
    readonly files?: Readonly<Record<string, Uint8Array>>
  }
  | { readonly _tag: "Managed"; readonly bootstrapServers: string; readonly credentials: AccessCredentials }

/** `GET /project/{id}/credentials` as the server builds it from the user's JKS stores (`AccessCredentialsDTO`). */
export interface AccessCredentials {
  readonly fileExtension: "jks"
  /** Base64 JKS keystore and truststore, and their password. */
  readonly kStore: string
  readonly tStore: string
  readonly password: string
  /** Every truststore certificate, PEM. */
  readonly caChain: string
  /** The keystore's certificate chain, leaf first, PEM. */
  readonly clientCert: string
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly clientKey: string
}

export interface RecordedRequest {
  readonly method: string
  /** Path under `/hopsworks-api/api`, without the query string. */
  readonly path: string
  readonly query: URLSearchParams
  readonly contentType: string | undefined
  readonly authorized: boolean
  readonly body: string
  readonly status: number
}

export interface StoredFeatureGroup {
  readonly dto: Record<string, unknown> & { readonly id: number; readonly name: string; readonly version: number }
  readonly subject: { readonly id: number; readonly subject: string; readonly version: number; readonly schema: string }
}

export interface LocalHopsworks {
  /** `http://127.0.0.1:<port>` (`https://` with the `tls` option) */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly apiKey: string
  readonly project: string
  readonly projectId: number
  readonly featureStoreId: number
  /** `<project>_onlinefs`: the topic every online FG of the project uses. */
  readonly onlineTopic: string
  readonly requests: () => ReadonlyArray<RecordedRequest>
  readonly clearRequests: () => void
  /** Requests needing `scope` answer 403 / 320004 until `allowScope`. */
  readonly forbidScope: (scope: ApiKeyScope) => void
  readonly allowScope: (scope: ApiKeyScope) => void
  /** Requests needing `scope` answer 403 / 320003 (the key's user lacks the project role) until `allowScope`. */
  readonly forbidRole: (scope: ApiKeyScope) => void
  /** The next `count` requests (matching `path` if given) answer `status` (default 503). */
  readonly failNext: (count: number, status?: number, path?: RegExp) => void
  /**
   * The next `count` requests matching `method` and `path` are carried out, and then answered only after
   * `delayMs` (a busy server), or, with `delayMs: "never"`, not at all: the connection is cut.
   */
  readonly answerLate: (count: number, delayMs: number | "never", method: string, path: RegExp) => void
  readonly featureGroups: () => ReadonlyArray<StoredFeatureGroup>
  readonly executions: () => ReadonlyArray<{ readonly job: string; readonly id: number }>
  /** Arguments each execution was started with (the request body, or the job's defaults for an empty one). */
  readonly executionArgs: () => ReadonlyArray<string>
  /** Every running execution ends with `finalStatus` (default SUCCEEDED). */
  readonly finishExecutions: (finalStatus?: string) => void
  readonly topics: () => ReadonlyArray<Record<string, unknown>>
  /** HopsworksConfig pointing at this server (override e.g. `apiKey` or `project` to test failures). */
  readonly configLayer: (
    overrides?: Partial<Omit<HopsworksSettings, "apiKey">> & { readonly apiKey?: string }
  ) => Layer.Layer<HopsworksConfig>
}

/**
 * The credentials answer for a user holding the test client certificate, as the server builds it
 * from the user's stores: the stores base64, the truststore's certificates as the CA chain, the
 * keystore's chain (client certificate, then CA) and its key in PKCS#8.
 */
export const accessCredentials = (certs: TestCertificates, stores: JavaStores): AccessCredentials => ({
  fileExtension: "jks",
  kStore: stores.keystoreJks.toString("base64"),
  tStore: stores.truststoreJks.toString("base64"),
  password: stores.password,
  caChain: certs.ca,
  clientCert: certs.clientCert + certs.ca,
  clientKey: certs.clientKey
})

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

const restError = (errorCode: number, errorMsg: string, usrMsg = "") => ({
  type: "restApiJsonResponse",
  errorCode,
  errorMsg,
  usrMsg,
  devMsg: ""
})

/** The API-key scope the real server requires for a path (see the protocol page §1.1). */
const scopeOf = (path: string): ApiKeyScope => {
  if (path.startsWith("/project/getProjectInfo/") || /^\/project\/\d+\/credentials$/.test(path)) return "PROJECT"
  if (/^\/project\/\d+\/dataset\//.test(path)) return "DATASET_VIEW"
  if (path.includes("/kafka/")) return "KAFKA"
  if (/^\/project\/\d+\/jobs\//.test(path)) return "JOB"
  return "FEATURESTORE"
}

/** Fields the server knows in a feature group body (hsfs `FeatureGroup.to_dict`) and in each feature. */
const featureGroupFields = new Set([
  "id",
  "name",
  "version",
  "description",
  "onlineEnabled",
  "timeTravelFormat",
  "features",
  "featurestoreId",
  "type",
  "statisticsConfig",
  "eventTime",
  "expectationSuite",
  "parents",
  "topicName",
  "notificationTopicName",
  "deprecated",
  "transformationFunctions",
  "ttl",
  "ttlEnabled",
  "sinkEnabled",
  "dataSource",
  "onlineConfig",
  "embeddingIndex",
  "deltaStreamerJobConf",
  "tags"
])
const featureFields = new Set([
  "name",
  "type",
  "description",
  "partition",
  "hudiPrecombineKey",
  "primary",
  "foreign",
  "onlineType",
  "defaultValue",
  "featureGroupId",
  "onDemand",
  "useFullyQualifiedName"
])

/** The first field of a feature group body the server would not know, as `"name"` or `"features[i].name"`. */
const unknownFields = (body: object): string | undefined => {
  const top = Object.keys(body).find((k) => !featureGroupFields.has(k))
  if (top !== undefined) return `"${top}"`
  const features = (body as { features?: unknown }).features
  if (!Array.isArray(features)) return undefined
  for (const [i, f] of features.entries()) {
    const field = Object.keys(f as object).find((k) => !featureFields.has(k))
    if (field !== undefined) return `"features[${i}].${field}"`
  }
  return undefined
}

const projectNotFound = (res: ServerResponse) =>
  json(res, 400, restError(150004, "Project wasn't found.", "The project does not exist or you are not a member"))

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

export const makeLocalHopsworks = (options: LocalHopsworksOptions = {}) =>
  Effect.gen(function*() {
    const apiKey = options.apiKey ?? "local-test-key.Secr3tValue"
    const project = options.project ?? "tributary_test"
    const projectId = options.projectId ?? 119
    const featureStoreId = options.featureStoreId ?? 67
    const fsName = `${project.toLowerCase()}_featurestore`
    const onlineTopic = `${project}_onlinefs`
    const onlineIngestion = options.onlineIngestion ?? true

    const requests: Array<RecordedRequest> = []
    const forbidden = new Set<ApiKeyScope>()
    const roleMissing = new Set<ApiKeyScope>()
    const failures: Array<{ status: number; path: RegExp | undefined }> = []
    const late: Array<{ delayMs: number | "never"; method: string; path: RegExp }> = []
    const featureGroups = new Map<string, StoredFeatureGroup>()
    const subjects = new Map<string, Array<{ id: number; subject: string; version: number; schema: string }>>()
    const creating = new Map<string, Promise<void>>()
    const jobs = new Map<string, { readonly defaultArgs: string }>()
    const executions: Array<{
      job: string
      id: number
      args: string
      submissionTime: string
      state: string
      finalStatus: string
    }> = []
    const topics = new Map<string, Record<string, unknown>>()
    let nextId = 1000
    let nextSchemaId = 2000

    const kafka = options.kafkaBootstrap === undefined
      ? undefined
      : new Kafka({ clientId: "local-hopsworks", brokers: [options.kafkaBootstrap], logLevel: logLevel.NOTHING })
    const admin = kafka?.admin()
    let adminConnected: Promise<void> | undefined
    const ensureTopic = async (topic: string, partitions: number) => {
      if (admin === undefined) return
      adminConnected ??= admin.connect()
      await adminConnected
      const existing = await admin.listTopics()
      if (existing.includes(topic)) return
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }]
      })
        .catch((e: unknown) => {
          if (!String(e).includes("already exists")) throw e
        })
    }

    const registerSubject = (subject: string, schema: string) => {
      const versions = subjects.get(subject) ?? []
      const same = versions.find((v) => v.schema === schema)
      if (same !== undefined) return same
      const entry = { id: nextSchemaId++, subject, version: versions.length + 1, schema }
      versions.push(entry)
      subjects.set(subject, versions)
      return entry
    }

    const handle = async (req: IncomingMessage, res: ServerResponse, url: URL, body: string) => {
      const method = req.method ?? "GET"
      const prefix = "/hopsworks-api/api"
      if (!url.pathname.startsWith(prefix)) return json(res, 404, { message: "not a Hopsworks API path" })
      const path = url.pathname.slice(prefix.length)

      const failure = failures.findIndex((f) => f.path === undefined || f.path.test(path))
      if (failure >= 0) {
        const f = failures.splice(failure, 1)[0]!
        res.writeHead(f.status, { "content-type": "text/html" })
        return res.end(`<html><body>${f.status} Service Unavailable</body></html>`)
      }

      if (req.headers.authorization !== `ApiKey ${apiKey}`) {
        return json(res, 401, restError(320002, "Api key not found", "Api key not found"), {
          "www-authenticate": "ApiKey realm=\"Hopsworks\""
        })
      }
      const scope = scopeOf(path)
      if (forbidden.has(scope)) {
        return json(res, 403, restError(320004, `Api key does not have the required scope: ${scope}`, ""))
      }
      if (roleMissing.has(scope)) {
        return json(res, 403, restError(320003, "No valid role found for this invocation", ""))
      }

      let m: RegExpExecArray | null
      if ((m = /^\/project\/getProjectInfo\/([^/]+)$/.exec(path)) && method === "GET") {
        if (decodeURIComponent(m[1]!) !== project) return projectNotFound(res)
        return json(res, 200, {
          projectId,
          projectName: project,
          owner: "tester@hopsworks.ai",
          description: "",
          created: "2025-01-01T00:00:00Z",
          featureStoreTopic: null,
          services: ["JOBS", "KAFKA", "FEATURESTORE"]
        })
      }
      const pm = /^\/project\/(\d+)(\/.*)?$/.exec(path)
      if (pm === null) return json(res, 404, restError(100000, "Not found"))
      if (Number(pm[1]) !== projectId) return projectNotFound(res)
      const rest = pm[2] ?? ""

      if (rest === "/credentials" && method === "GET") {
        if (options.kafka?._tag === "Managed") return json(res, 200, options.kafka.credentials)
        return json(res, 200, {
          fileExtension: "jks",
          kStore: "",
          tStore: "",
          password: "",
          caChain: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
          clientCert: "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n",
          clientKey: "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"
        })
      }

      if ((m = /^\/dataset\/download\/with_auth\/(.+)$/.exec(rest)) && method === "GET") {
        const wanted = m[1]!.split("/").map(decodeURIComponent).join("/")
        const files = options.kafka?._tag === "Byok" ? options.kafka.files ?? {} : {}
        const file = Object.entries(files).find(([p]) =>
          p.replace(/^hdfs:\/\/[^/]*/, "").replace(/^\/+/, "") === wanted
        )
        if (file === undefined) return json(res, 404, restError(110018, "File not found", wanted))
        const bytes = Buffer.from(file[1])
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-length": bytes.length,
          "content-disposition": `attachment; filename="${wanted.split("/").at(-1)}"`
        })
        return res.end(bytes)
      }

      if (rest === "/kafka/clusterinfo" && method === "GET") {
        const brokers = options.kafka?._tag === "Managed"
          ? options.kafka.bootstrapServers
          : options.kafkaBootstrap ?? "127.0.0.1:19092"
        return json(res, 200, { brokers: brokers.split(",") })
      }

      if ((m = /^\/jobs\/([^/]+)(\/executions)?$/.exec(rest))) {
        const job = decodeURIComponent(m[1]!)
        const config = jobs.get(job)
        if (config === undefined) return json(res, 404, restError(130009, "Job not found", `job ${job} not found`))
        if (m[2] === undefined && method === "GET") {
          return json(res, 200, {
            id: 1,
            name: job,
            jobType: "SPARK",
            config: { type: "sparkJobConfiguration", ...config }
          })
        }
        if (m[2] !== undefined && method === "GET") {
          // sort_by=submissiontime:desc, limit, offset: what clients ask for to see the last execution
          const mine = executions.filter((e) => e.job === job).toReversed()
          const offset = Number(url.searchParams.get("offset") ?? 0)
          const limit = Number(url.searchParams.get("limit") ?? mine.length)
          const items = mine.slice(offset, offset + limit).map(executionDto)
          return json(res, 200, items.length === 0 ? { count: mine.length } : { count: mine.length, items })
        }
        if (m[2] !== undefined && method === "POST") {
          // a non-empty body replaces the job's default arguments
          const execution = {
            job,
            id: nextId++,
            args: body.length > 0 ? body : config.defaultArgs,
            submissionTime: new Date().toISOString(),
            state: "INITIALIZING",
            finalStatus: "UNDEFINED"
          }
          executions.push(execution)
          return json(res, 201, executionDto(execution))
        }
      }

      if ((m = /^\/kafka\/subjects\/([^/]+)\/versions$/.exec(rest)) && method === "POST") {
        const schema = (JSON.parse(body) as { schema: string }).schema
        const entry = registerSubject(decodeURIComponent(m[1]!), schema)
        return json(res, 200, { id: entry.id })
      }
      if ((m = /^\/kafka\/subjects\/([^/]+)\/versions\/([^/]+)$/.exec(rest)) && method === "GET") {
        return subjectVersion(res, decodeURIComponent(m[1]!), m[2]!)
      }
      if (rest === "/kafka/topics" && method === "POST") {
        const t = JSON.parse(body) as { name: string; numOfPartitions: number; schemaName?: string }
        if (topics.has(t.name)) return json(res, 409, restError(190002, "Kafka topic already exists", t.name))
        if (t.schemaName !== undefined && !subjects.has(t.schemaName)) {
          return json(res, 404, { error_code: 40401, message: "Subject not found" })
        }
        topics.set(t.name, t)
        await ensureTopic(t.name, t.numOfPartitions)
        return json(res, 201, t, { location: `${url.origin}${prefix}/project/${projectId}/kafka/topics/${t.name}` })
      }

      const fm = /^\/featurestores\/([^/]+)(\/.*)?$/.exec(rest)
      if (fm === null) return json(res, 404, restError(100000, "Not found"))
      const fsRef = decodeURIComponent(fm[1]!)
      if (fsRef !== fsName && fsRef !== String(featureStoreId)) {
        return json(res, 404, restError(270008, "Featurestore wasn't found", `featurestore ${fsRef} not found`))
      }
      const fsRest = fm[2] ?? ""
      if (fsRest === "" && method === "GET") {
        return json(res, 200, {
          featurestoreId: featureStoreId,
          featurestoreName: fsName,
          created: "2025-01-01T00:00:00Z",
          projectName: project,
          projectId,
          onlineFeaturestoreName: project.toLowerCase(),
          offlineFeaturestoreName: fsName,
          onlineEnabled: true,
          numFeatureGroups: featureGroups.size
        })
      }
      if (fsRest === "/storageconnectors/kafka_connector/byok" && method === "GET") {
        const connector = {
          type: "featureStoreKafkaConnectorDTO",
          id: -1,
          name: "kafka_connector",
          featurestoreId: featureStoreId,
          storageConnectorType: "KAFKA",
          bootstrapServers: options.kafkaBootstrap ?? "127.0.0.1:19092",
          securityProtocol: "PLAINTEXT",
          sslEndpointIdentificationAlgorithm: "",
          options: [],
          externalKafka: true
        }
        if (options.kafka?._tag === "Managed") {
          return json(res, 200, {
            ...connector,
            description: "Connector used for exchanging information within hopsworks",
            bootstrapServers: options.kafka.bootstrapServers,
            securityProtocol: "SSL",
            externalKafka: false
          })
        }
        return json(res, 200, { ...connector, ...options.kafka?.connector })
      }
      if ((m = /^\/kafka\/subjects\/([^/]+)\/versions\/([^/]+)$/.exec(fsRest)) && method === "GET") {
        return subjectVersion(res, decodeURIComponent(m[1]!), m[2]!)
      }
      if (fsRest === "/featuregroups" && method === "POST") return createFeatureGroup(res, body)
      if ((m = /^\/featuregroups\/(\d+)\/online_ingestion$/.exec(fsRest)) && method === "POST") {
        if (!onlineIngestion) return json(res, 404, { message: "HTTP 404 Not Found" })
        const fgId = Number(m[1])
        if (![...featureGroups.values()].some((fg) => fg.dto.id === fgId)) {
          return json(res, 404, restError(270009, "Featuregroup wasn't found"))
        }
        const ingestion = JSON.parse(body) as { numEntries: number | null }
        return json(res, 201, { id: nextId++, numEntries: ingestion.numEntries, results: [] })
      }
      if ((m = /^\/featuregroups\/([A-Za-z0-9_]+)$/.exec(fsRest)) && method === "GET") {
        const name = m[1]!
        const version = url.searchParams.get("version")
        const found = [...featureGroups.values()].filter((fg) =>
          fg.dto.name === name && (version === null || String(fg.dto.version) === version)
        )
        if (found.length === 0) {
          return json(res, 404, restError(270009, "Featuregroup wasn't found.", `featuregroup ${name} not found`))
        }
        return json(res, 200, found.map((fg) => fg.dto))
      }
      return json(res, 404, restError(100000, `No route for ${method} ${path}`))
    }

    const executionDto = (e: (typeof executions)[number]) => ({
      id: e.id,
      state: e.state,
      finalStatus: e.finalStatus,
      submissionTime: e.submissionTime,
      args: e.args
    })

    const subjectVersion = (res: ServerResponse, subject: string, version: string) => {
      const versions = subjects.get(subject)
      if (versions === undefined || versions.length === 0) {
        return json(res, 404, { error_code: 40401, message: "Subject not found" })
      }
      const entry = version === "latest"
        ? versions[versions.length - 1]
        : versions.find((v) => String(v.version) === version)
      if (entry === undefined) return json(res, 404, { error_code: 40402, message: "Version not found" })
      return json(res, 200, entry)
    }

    const createFeatureGroup = async (res: ServerResponse, body: string) => {
      const req = JSON.parse(body) as {
        type: string
        name: string
        version: number
        description?: string
        onlineEnabled?: boolean
        eventTime?: string | null
        timeTravelFormat?: string
        features: Array<{ name: string; type: string; onlineType?: string; primary?: boolean; partition?: boolean }>
      }
      // 270001 COULD_NOT_CREATE_FEATUREGROUP stands for the server's finer codes, which clients do not act on
      const refused = (errorCode: number, errorMsg: string, usrMsg: string) =>
        json(res, 400, restError(errorCode, errorMsg, usrMsg))
      const unknownField = unknownFields(req)
      if (unknownField !== undefined) {
        return refused(270001, "Invalid request body", `Unrecognized field ${unknownField}`)
      }
      if (req.type !== "streamFeatureGroupDTO") {
        return json(res, 400, restError(270001, "Could not create feature group", `unsupported type ${req.type}`))
      }
      if (!entityNamePattern.test(req.name)) {
        return refused(270001, "Illegal feature group name", `${req.name}: a lower-case letter first, at most 63`)
      }
      for (const f of req.features) {
        if (!entityNamePattern.test(f.name)) {
          return refused(270001, "Illegal feature name", `${f.name}: a lower-case letter first, at most 63`)
        }
      }
      if (new Set(req.features.map((f) => f.name)).size !== req.features.length) {
        return refused(270001, "Duplicated feature names", req.name)
      }
      if (req.eventTime !== undefined && req.eventTime !== null) {
        const eventTime = req.features.find((f) => f.name === req.eventTime)
        if (eventTime === undefined) return refused(270172, "Event time feature not found", req.eventTime)
        if (!["TIMESTAMP", "DATE", "BIGINT"].includes(eventTime.type.toUpperCase())) {
          return refused(270171, "Illegal event time feature type", `${req.eventTime} is ${eventTime.type}`)
        }
      }
      const key = `${req.name}_${req.version}`
      const pending = creating.get(key)
      if (pending !== undefined) await pending.catch(() => undefined) // answer once the winner has committed
      if (featureGroups.has(key) || pending !== undefined) {
        return json(res, 400, restError(270089, "Feature group already exists", `${req.name} version ${req.version}`))
      }
      if (!req.features.some((f) => f.primary === true)) {
        return json(res, 400, restError(270121, "Primary key required", "stream feature groups need a primary key"))
      }
      for (const f of req.features) {
        const problem = hiveTypeProblem(f.type)
        if (problem !== undefined) return json(res, 400, restError(270153, "Avro conversion failed", problem))
      }
      const onlineEnabled = req.onlineEnabled ?? false
      if (onlineEnabled) {
        const problem = onlineSchemaProblem(req.features.map((f) => ({ ...f, primary: f.primary === true })))
        if (problem !== undefined) return refused(270001, "Could not create the online feature group", problem)
      }
      const topic = onlineEnabled ? onlineTopic : project
      const subject = registerSubject(
        key,
        buildFeatureGroupAvroSchemaString({
          featureGroupName: req.name,
          version: req.version,
          projectName: project,
          features: req.features
        })
      )
      const id = nextId++
      const firstPk = req.features.find((f) => f.primary === true)?.name
      const dto = {
        type: "streamFeatureGroupDTO",
        id,
        name: req.name,
        version: req.version,
        description: req.description ?? "",
        featurestoreId: featureStoreId,
        featurestoreName: fsName,
        created: new Date().toISOString(),
        creator: { email: "tester@hopsworks.ai" },
        location: `hopsfs://namenode.service.consul:8020/apps/hive/warehouse/${fsName}.db/${key}`,
        statisticsConfig: {
          enabled: false,
          correlations: false,
          histograms: false,
          exactUniqueness: false,
          columns: []
        },
        features: req.features.map((f) => ({
          name: f.name,
          type: f.type,
          onlineType: onlineEnabled ? onlineTypeOf(f) : null,
          description: "",
          primary: f.primary === true,
          partition: f.partition === true,
          hudiPrecombineKey: f.name === firstPk,
          defaultValue: null,
          featureGroupId: id
        })),
        eventTime: req.eventTime ?? null,
        onlineEnabled,
        onlineTopicName: topic,
        topicName: null,
        notificationTopicName: null,
        deprecated: false,
        timeTravelFormat: req.timeTravelFormat ?? "HUDI",
        deltaStreamerJobConf: { writeOptions: [], sparkJobConfiguration: null }
      }
      // like the server's unique constraint: a concurrent create of the same FG gets 270089
      const topicReady = ensureTopic(topic, 3)
      creating.set(key, topicReady)
      try {
        await topicReady
      } finally {
        creating.delete(key)
      }
      featureGroups.set(key, { dto, subject })
      jobs.set(`${key}_offline_fg_materialization`, {
        defaultArgs:
          `-op offline_fg_materialization -path hdfs:///Projects/${project}/Resources/jobs/${key}/config.json`
      })
      return json(res, 201, dto)
    }

    const listener: RequestListener = (req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1")
      const path = url.pathname.replace(/^\/hopsworks-api\/api/, "")
      const lateIndex = late.findIndex((l) => l.method === req.method && l.path.test(path))
      const lateAnswer = lateIndex >= 0 ? late.splice(lateIndex, 1)[0] : undefined
      readBody(req)
        .then(async (body) => {
          const originalEnd = res.end.bind(res)
          res.end = ((...args: Parameters<ServerResponse["end"]>) => {
            requests.push({
              method: req.method ?? "GET",
              path,
              query: url.searchParams,
              contentType: req.headers["content-type"],
              authorized: req.headers.authorization === `ApiKey ${apiKey}`,
              body,
              status: lateAnswer?.delayMs === "never" ? 0 : res.statusCode
            })
            // the work is done either way; only the answer is late or lost
            if (lateAnswer?.delayMs === "never") {
              req.socket.destroy()
              return res
            }
            if (lateAnswer !== undefined) {
              setTimeout(() => originalEnd(...args), lateAnswer.delayMs)
              return res
            }
            return originalEnd(...args)
          }) as ServerResponse["end"]
          await handle(req, res, url, body)
        })
        .catch((error: unknown) => {
          if (!res.headersSent) json(res, 500, restError(100001, `test server error: ${String(error)}`))
        })
    }
    const server = options.tls === undefined ? createServer(listener) : createHttpsServer(options.tls, listener)
    const scheme = options.tls === undefined ? "http" : "https"

    const port = yield* Effect.acquireRelease(
      Effect.callback<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.promise(async () => {
          server.closeAllConnections()
          await new Promise<void>((resolve) => server.close(() => resolve()))
          if (adminConnected !== undefined) await admin?.disconnect().catch(() => undefined)
        })
    )

    const local: LocalHopsworks = {
      url: `${scheme}://127.0.0.1:${port}`,
      host: "127.0.0.1",
      port,
      apiKey,
      project,
      projectId,
      featureStoreId,
      onlineTopic,
      requests: () => [...requests],
      clearRequests: () => {
        requests.length = 0
      },
      forbidScope: (scope) => void forbidden.add(scope),
      allowScope: (scope) => {
        forbidden.delete(scope)
        roleMissing.delete(scope)
      },
      forbidRole: (scope) => void roleMissing.add(scope),
      failNext: (count, status = 503, path) => {
        for (let i = 0; i < count; i++) failures.push({ status, path })
      },
      answerLate: (count, delayMs, method, path) => {
        for (let i = 0; i < count; i++) late.push({ delayMs, method, path })
      },
      featureGroups: () => [...featureGroups.values()],
      executions: () => executions.map((e) => ({ job: e.job, id: e.id })),
      executionArgs: () => executions.map((e) => e.args),
      finishExecutions: (finalStatus = "SUCCEEDED") => {
        for (const e of executions) {
          if (e.finalStatus !== "UNDEFINED") continue
          e.state = "FINISHED"
          e.finalStatus = finalStatus
        }
      },
      topics: () => [...topics.values()],
      configLayer: (overrides = {}) =>
        HopsworksConfig.layerWith({
          host: "127.0.0.1",
          port,
          scheme,
          project,
          requestTimeoutMs: 5_000,
          ...overrides,
          apiKey: overrides.apiKey ?? apiKey
        })
    }
    return local
  })
