import { Context, Duration, Effect, Layer, Option, Redacted, Ref, type Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { HopsworksConfig, type HopsworksSettings } from "../config/HopsworksConfig.ts"
import { transientBackoff } from "../shared/Retry.ts"
import { hiveTypeProblem } from "./AvroSchemaBuilder.ts"
import {
  type ApiKeyScope,
  BadApiKey,
  FeatureGroupNotFound,
  FeatureStoreNotFound,
  HopsworksError,
  type HopsworksErrorReason,
  InvalidFeatureGroupSpec,
  JobNotFound,
  MissingScope,
  NotConfigured,
  ProjectNotFound,
  RequestRejected,
  ServerError,
  SubjectNotFound,
  UnexpectedResponse,
  Unreachable
} from "./HopsworksError.ts"
import {
  CredentialsDTO,
  ErrorBodyFromJson,
  ExecutionDTO,
  type FeaturegroupDTO,
  FeaturegroupDTO as FeaturegroupDTOSchema,
  FeaturegroupList,
  featuregroupsOf,
  FeaturestoreDTO,
  KafkaConnectorDTO,
  OnlineIngestionDTO,
  ProjectDTO,
  type StreamFeatureGroupCreate,
  SubjectCreated,
  SubjectDTO,
  type TopicCreate
} from "./HopsworksSchemas.ts"

// ---------------------------------------------------------------------------------------------
// public types

/** What a pipeline declares about the feature group it writes. */
export interface FeatureGroupSpec {
  readonly name: string
  readonly version: number
  readonly description?: string | undefined
  /** Feature names; the order here does not matter, the feature list order does. */
  readonly primaryKey: ReadonlyArray<string>
  /** Name of the event-time feature (Hive type bigint, timestamp or date). */
  readonly eventTime?: string | undefined
  /** Hive types: string, bigint, int, double, float, boolean, timestamp, date, decimal(p,s), array<..>, ... */
  readonly features: ReadonlyArray<{ readonly name: string; readonly type: string }>
  /** Default true. */
  readonly onlineEnabled?: boolean | undefined
}

/** Everything needed to write rows to a feature group (see FeatureGroupWriter). */
export interface ResolvedFeatureGroup {
  /** The project that OWNS the feature store (the `projectId` Kafka header). */
  readonly projectId: number
  readonly featureStoreId: number
  readonly featureGroupId: number
  readonly name: string
  readonly version: number
  readonly onlineTopicName: string
  readonly onlineEnabled: boolean
  /** In feature-list order (the order the key is built in). */
  readonly primaryKey: ReadonlyArray<string>
  readonly eventTime: string | undefined
  readonly features: ReadonlyArray<{ readonly name: string; readonly type: string }>
  /** The latest Avro subject `<name>_<version>`; `id` is the `subjectId` Kafka header. */
  readonly subject: { readonly id: number; readonly version: number; readonly schema: string }
}

export interface KafkaConnection {
  readonly bootstrapServers: ReadonlyArray<string>
  /** As Hopsworks reports it: `SSL` for the managed Kafka, anything for BYOK (e.g. PLAINTEXT, SASL_SSL). */
  readonly securityProtocol: string
  /**
   * The project user's client certificate for Hopsworks-managed Kafka (mTLS). None for BYOK Kafka or
   * non-SSL protocols. Hopsworks brokers are not verified by host name (the server sends
   * `sslEndpointIdentificationAlgorithm: ""`): use `checkServerIdentity: () => undefined`.
   */
  readonly tls: Option.Option<{ readonly ca: string; readonly cert: string; readonly key: Redacted.Redacted }>
  /** True when Hopsworks points at a "bring your own" Kafka cluster. */
  readonly externalKafka: boolean
  /** Extra connector options (`sasl.jaas.config`, ...), as configured on the connector. */
  readonly options: ReadonlyArray<{ readonly name: string; readonly value: string }>
}

export interface MaterializationExecution {
  readonly jobName: string
  readonly executionId: number
  readonly state: string
}

export interface KafkaTopicSpec {
  readonly name: string
  readonly partitions: number
  readonly replicas: number
  /**
   * The topic's Avro schema in the project schema registry: `avroSchema` (JSON text) is registered as
   * a new version of `subject` first when given; otherwise `version` (default: latest) must exist.
   */
  readonly schema?: {
    readonly subject: string
    readonly avroSchema?: string | undefined
    readonly version?: number | undefined
  } | undefined
}

export interface HopsworksClientOptions {
  /** Attempts per request on 5xx / connection errors / timeouts (default 5). 4xx is never retried. */
  readonly maxAttempts?: number | undefined
  /** Delay schedule between attempts (default `transientBackoff`). */
  readonly retrySchedule?: Schedule.Schedule<unknown, unknown> | undefined
}

// ---------------------------------------------------------------------------------------------
// service

export class HopsworksClient extends Context.Service<HopsworksClient, {
  /** Get-or-create the stream feature group, then fetch its latest Avro subject. */
  readonly resolveFeatureGroup: (spec: FeatureGroupSpec) => Effect.Effect<ResolvedFeatureGroup, HopsworksError>
  /** Look up an existing feature group (reason `FeatureGroupNotFound` when it does not exist). */
  readonly getFeatureGroup: (name: string, version: number) => Effect.Effect<ResolvedFeatureGroup, HopsworksError>
  /** Bootstrap servers, protocol and (managed Kafka) the project user's TLS material. */
  readonly kafkaConnection: () => Effect.Effect<KafkaConnection, HopsworksError>
  /** `onlineIngestionId` for the headers; None when the FG is offline-only or the server predates 4.2. */
  readonly createOnlineIngestion: (
    fg: ResolvedFeatureGroup,
    numEntries: number | null
  ) => Effect.Effect<Option.Option<number>, HopsworksError>
  /** Starts the offline materialization job of the feature group. */
  readonly startMaterialization: (fg: ResolvedFeatureGroup) => Effect.Effect<MaterializationExecution, HopsworksError>
  /** Creates a project Kafka topic (an existing one is fine: `created: false`). */
  readonly createKafkaTopic: (spec: KafkaTopicSpec) => Effect.Effect<{ readonly created: boolean }, HopsworksError>
}>()("tributary/hopsworks/HopsworksClient") {
  /** Needs `HttpClient` (e.g. `NodeHttpClient.layerUndici`) and `HopsworksConfig`. */
  static readonly layer = Layer.effect(HopsworksClient, Effect.suspend(() => makeClient({})))

  /** Same, with retry tuning (tests use a fast schedule). */
  static readonly layerWith = (options: HopsworksClientOptions) =>
    Layer.effect(HopsworksClient, Effect.suspend(() => makeClient(options)))

  /**
   * Undici agent options for `NodeHttpClient.layerUndiciOptions(...)` that honour
   * HOPSWORKS_HOSTNAME_VERIFICATION (false: the server certificate is not verified, like the Python
   * client's `hostname_verification=False`).
   */
  static readonly httpClientOptions = (settings: Pick<HopsworksSettings, "hostnameVerification">) =>
    settings.hostnameVerification ? {} : { connect: { rejectUnauthorized: false } }
}

// ---------------------------------------------------------------------------------------------
// implementation

/** The body of a finished HTTP exchange (the status decides what it means). */
interface RawResponse {
  readonly status: number
  readonly text: string
}

/** What a request is for: used in messages and to name the scope a 403 is about. */
interface Operation {
  readonly description: string
  readonly scope: ApiKeyScope
}

/** A failure worth retrying (5xx, connection error, timeout); mapped to ServerError/Unreachable at the end. */
interface Transient {
  readonly _tag: "Transient"
  readonly status: number | undefined
  readonly detail: string
}

interface ErrorInfo {
  readonly errorCode: number | undefined
  readonly serverMessage: string | undefined
}

const makeClient = Effect.fnUntraced(function*(options: HopsworksClientOptions) {
  const configured = yield* HopsworksConfig
  if (Option.isNone(configured)) return yield* new HopsworksError({ reason: new NotConfigured() })
  const cfg = configured.value
  const httpClient = yield* HttpClient.HttpClient

  const endpoint = `${cfg.scheme}://${cfg.host}:${cfg.port}`
  const apiKey = Redacted.value(cfg.apiKey)
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5)
  const schedule = options.retrySchedule ?? transientBackoff
  const timeout = Duration.millis(cfg.requestTimeoutMs)

  /** Removes the API key from any text that came from elsewhere (server bodies, error causes). */
  const scrub = (text: string): string => (apiKey.length > 0 ? text.split(apiKey).join("<redacted>") : text)

  const client = httpClient.pipe(
    HttpClient.mapRequest((req) =>
      req.pipe(
        HttpClientRequest.prependUrl(`${endpoint}/hopsworks-api/api`),
        HttpClientRequest.setHeader("Authorization", `ApiKey ${apiKey}`),
        HttpClientRequest.acceptJson
      )
    )
  )

  const errorInfo = (raw: RawResponse): ErrorInfo => {
    const body = Schema.decodeUnknownOption(ErrorBodyFromJson)(raw.text)
    if (Option.isNone(body)) {
      const text = raw.text.trim()
      return { errorCode: undefined, serverMessage: text.length > 0 ? scrub(text.slice(0, 300)) : undefined }
    }
    const b = body.value
    if ("error_code" in b) return { errorCode: b.error_code, serverMessage: b.message ? scrub(b.message) : undefined }
    const message = [b.usrMsg, b.errorMsg].filter((m): m is string => typeof m === "string" && m.length > 0)
    return {
      errorCode: b.errorCode ?? undefined,
      serverMessage: message.length > 0 ? scrub(message.join(" - ")) : undefined
    }
  }

  /**
   * One request: executed, body read, retried on transient failures only. 401 and 403 are mapped here
   * (they mean the same on every endpoint); every other status is returned to the caller.
   */
  const execute = (op: Operation, request: HttpClientRequest.HttpClientRequest) => {
    const attempt: Effect.Effect<RawResponse, Transient> = client.execute(request).pipe(
      Effect.flatMap((response) =>
        Effect.map(response.text, (text): RawResponse => ({ status: response.status, text }))
      ),
      Effect.timeout(timeout),
      Effect.mapError((e): Transient => ({
        _tag: "Transient",
        status: undefined,
        detail: e._tag === "TimeoutError"
          ? `no answer within ${cfg.requestTimeoutMs} ms`
          : scrub(describeTransport(e))
      })),
      Effect.flatMap((raw) =>
        raw.status >= 500
          ? Effect.fail<Transient>({ _tag: "Transient", status: raw.status, detail: raw.text })
          : Effect.succeed(raw)
      )
    )
    return attempt.pipe(
      Effect.tapError((t) =>
        Effect.logDebug(
          `Hopsworks: ${op.description} failed (${t.status ?? "no response"}), will retry if attempts remain`
        )
      ),
      Effect.retry({ schedule, times: maxAttempts - 1 }),
      Effect.mapError((t): HopsworksError =>
        t.status === undefined
          ? error(new Unreachable({ operation: op.description, endpoint, attempts: maxAttempts, detail: t.detail }))
          : error(
            new ServerError({
              operation: op.description,
              status: t.status,
              attempts: maxAttempts,
              ...optionalMessage(errorInfo({ status: t.status, text: t.detail }).serverMessage)
            })
          )
      ),
      Effect.flatMap((raw) => {
        if (raw.status === 401) {
          return Effect.fail(error(new BadApiKey({ endpoint, ...optionalCode(errorInfo(raw).errorCode) })))
        }
        if (raw.status === 403) {
          const info = errorInfo(raw)
          return Effect.fail(error(
            new MissingScope({
              scope: op.scope,
              operation: op.description,
              ...optionalCode(info.errorCode),
              ...optionalMessage(info.serverMessage)
            })
          ))
        }
        return Effect.succeed(raw)
      })
    )
  }

  /** Decodes a 2xx body with `schema`; anything else in `raw` is a fallback error (see `rejected`). */
  const decode = <S extends Schema.Top & { readonly DecodingServices: never }>(
    op: Operation,
    schema: S,
    raw: RawResponse
  ): Effect.Effect<S["Type"], HopsworksError> => {
    if (raw.status < 200 || raw.status >= 300) return Effect.fail(rejected(op, raw))
    return Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(raw.text).pipe(
      Effect.mapError((e) =>
        error(
          new UnexpectedResponse({
            operation: op.description,
            status: raw.status,
            detail: scrub(e.message).slice(0, 500)
          })
        )
      )
    )
  }

  /** Default meaning of a non-2xx status (after the endpoint had its say). */
  const rejected = (op: Operation, raw: RawResponse): HopsworksError => {
    const info = errorInfo(raw)
    if (info.errorCode === 150004) return error(new ProjectNotFound({ project: cfg.project, endpoint }))
    if (info.errorCode === 270008) {
      return error(new FeatureStoreNotFound({ featureStore: featureStoreName, project: cfg.project }))
    }
    return error(
      new RequestRejected({
        operation: op.description,
        status: raw.status,
        ...optionalCode(info.errorCode),
        ...optionalMessage(info.serverMessage)
      })
    )
  }

  const featureStoreName = `${cfg.project.toLowerCase()}_featurestore`
  const enc = encodeURIComponent

  // -- project + feature store (cached after the first success) ------------------------------

  interface Context {
    readonly projectId: number
    readonly featureStoreId: number
    /** Owner of the feature store (differs from projectId for a shared feature store). */
    readonly ownerProjectId: number
    /** Name of the owner project (for the default topic name). */
    readonly ownerProjectName: string
  }
  const cache = yield* Ref.make(Option.none<Context>())

  const lookupContext = Effect.gen(function*() {
    const projectOp: Operation = { description: `look up project "${cfg.project}"`, scope: "PROJECT" }
    const projectRaw = yield* execute(projectOp, HttpClientRequest.get(`/project/getProjectInfo/${enc(cfg.project)}`))
    if (projectRaw.status === 404) return yield* error(new ProjectNotFound({ project: cfg.project, endpoint }))
    const project = yield* decode(projectOp, ProjectDTO, projectRaw)

    const fsOp: Operation = { description: `look up feature store "${featureStoreName}"`, scope: "FEATURESTORE" }
    const fsRaw = yield* execute(
      fsOp,
      HttpClientRequest.get(`/project/${project.projectId}/featurestores/${enc(featureStoreName)}`)
    )
    if (fsRaw.status === 404) {
      return yield* error(new FeatureStoreNotFound({ featureStore: featureStoreName, project: cfg.project }))
    }
    const fs = yield* decode(fsOp, FeaturestoreDTO, fsRaw)
    const context: Context = {
      projectId: project.projectId,
      featureStoreId: fs.featurestoreId,
      ownerProjectId: fs.projectId,
      ownerProjectName: fs.projectName ?? project.projectName ?? cfg.project
    }
    yield* Ref.set(cache, Option.some(context))
    return context
  })

  const context: Effect.Effect<Context, HopsworksError> = Effect.flatMap(
    Ref.get(cache),
    (cached) => (Option.isSome(cached) ? Effect.succeed(cached.value) : lookupContext)
  )

  const fgPath = (ctx: Context) => `/project/${ctx.projectId}/featurestores/${ctx.featureStoreId}/featuregroups`

  // -- feature groups ------------------------------------------------------------------------

  /** GET by name + version; None when it does not exist. */
  const findFeatureGroup = (ctx: Context, name: string, version: number) =>
    Effect.gen(function*() {
      const op: Operation = { description: `get feature group "${name}" version ${version}`, scope: "FEATURESTORE" }
      const raw = yield* execute(
        op,
        HttpClientRequest.get(`${fgPath(ctx)}/${enc(name)}`, {
          urlParams: { version: String(version), expand: "features" }
        })
      )
      if (raw.status === 404 || (raw.status === 400 && errorInfo(raw).errorCode === 270009)) {
        if (raw.status === 404 && errorInfo(raw).errorCode === 270008) return yield* rejected(op, raw)
        return Option.none<FeaturegroupDTO>()
      }
      const list = featuregroupsOf(yield* decode(op, FeaturegroupList, raw))
      return Option.fromNullishOr(list.find((fg) => fg.version === version) ?? list[0])
    })

  const createBody = (ctx: Context, spec: FeatureGroupSpec): StreamFeatureGroupCreate => {
    const pk = new Set(spec.primaryKey)
    return {
      type: "streamFeatureGroupDTO",
      name: spec.name,
      version: spec.version,
      description: spec.description ?? "",
      featurestoreId: ctx.featureStoreId,
      onlineEnabled: spec.onlineEnabled ?? true,
      timeTravelFormat: "HUDI",
      eventTime: spec.eventTime ?? null,
      statisticsConfig: { enabled: false, correlations: false, histograms: false, exactUniqueness: false, columns: [] },
      features: spec.features.map((f) => ({
        name: f.name,
        type: f.type,
        primary: pk.has(f.name),
        partition: false,
        hudiPrecombineKey: false,
        description: ""
      })),
      deltaStreamerJobConf: { writeOptions: [], sparkJobConfiguration: null }
    }
  }

  /** POST; None when someone else created it first (270089), so the caller re-GETs. */
  const createFeatureGroup = (ctx: Context, spec: FeatureGroupSpec) =>
    Effect.gen(function*() {
      const op: Operation = {
        description: `create feature group "${spec.name}" version ${spec.version}`,
        scope: "FEATURESTORE"
      }
      const raw = yield* execute(
        op,
        HttpClientRequest.post(fgPath(ctx), { urlParams: { expand: "features" } }).pipe(
          HttpClientRequest.bodyJsonUnsafe(createBody(ctx, spec))
        )
      )
      if (raw.status === 400 && errorInfo(raw).errorCode === 270089) return Option.none<FeaturegroupDTO>()
      return Option.some(yield* decode(op, FeaturegroupDTOSchema, raw))
    })

  const fetchSubject = (ctx: Context, name: string, version: number) =>
    Effect.gen(function*() {
      const subject = `${name}_${version}`
      const op: Operation = { description: `get the Avro subject "${subject}"`, scope: "KAFKA" }
      const raw = yield* execute(
        op,
        HttpClientRequest.get(
          `/project/${ctx.projectId}/featurestores/${ctx.featureStoreId}/kafka/subjects/${enc(subject)}/versions/latest`
        )
      )
      if (raw.status === 404) {
        return yield* error(new SubjectNotFound({ subject, ...optionalCode(errorInfo(raw).errorCode) }))
      }
      return yield* decode(op, SubjectDTO, raw)
    })

  const toResolved = (ctx: Context, dto: FeaturegroupDTO, subject: SubjectDTO): ResolvedFeatureGroup => {
    const features = (dto.features ?? []).map((f) => ({ name: f.name, type: f.type }))
    const onlineEnabled = dto.onlineEnabled ?? false
    return {
      projectId: ctx.ownerProjectId,
      featureStoreId: dto.featurestoreId ?? ctx.featureStoreId,
      featureGroupId: dto.id,
      name: dto.name,
      version: dto.version,
      onlineTopicName: dto.onlineTopicName ?? dto.topicName ??
        (onlineEnabled ? `${ctx.ownerProjectName}_onlinefs` : ctx.ownerProjectName),
      onlineEnabled,
      primaryKey: (dto.features ?? []).filter((f) => f.primary === true).map((f) => f.name),
      eventTime: dto.eventTime ?? undefined,
      features,
      subject: { id: subject.id, version: subject.version, schema: subject.schema }
    }
  }

  const resolveFeatureGroup = Effect.fn("HopsworksClient.resolveFeatureGroup")(
    function*(spec: FeatureGroupSpec) {
      yield* validateSpec(spec)
      const ctx = yield* context
      let dto = yield* findFeatureGroup(ctx, spec.name, spec.version)
      if (Option.isNone(dto)) {
        yield* Effect.logInfo(`Creating Hopsworks stream feature group ${spec.name} v${spec.version}`)
        dto = yield* createFeatureGroup(ctx, spec)
        // lost a creation race: the other creator's feature group is the one to use
        if (Option.isNone(dto)) dto = yield* findFeatureGroup(ctx, spec.name, spec.version)
        if (Option.isNone(dto)) {
          return yield* error(
            new FeatureGroupNotFound({ name: spec.name, version: spec.version, project: cfg.project })
          )
        }
      }
      yield* checkShape(dto.value, spec)
      const subject = yield* fetchSubject(ctx, spec.name, spec.version)
      return toResolved(ctx, dto.value, subject)
    },
    Effect.annotateLogs({ component: "HopsworksClient" })
  )

  const getFeatureGroup = Effect.fn("HopsworksClient.getFeatureGroup")(function*(name: string, version: number) {
    const ctx = yield* context
    const dto = yield* findFeatureGroup(ctx, name, version)
    if (Option.isNone(dto)) return yield* error(new FeatureGroupNotFound({ name, version, project: cfg.project }))
    const subject = yield* fetchSubject(ctx, name, version)
    return toResolved(ctx, dto.value, subject)
  })

  // -- kafka ---------------------------------------------------------------------------------

  const kafkaConnection = Effect.fn("HopsworksClient.kafkaConnection")(function*() {
    const ctx = yield* context
    const op: Operation = { description: "get the Kafka connection (kafka_connector)", scope: "FEATURESTORE" }
    const raw = yield* execute(
      op,
      HttpClientRequest.get(
        `/project/${ctx.projectId}/featurestores/${ctx.featureStoreId}/storageconnectors/kafka_connector/byok`,
        { urlParams: { external: String(!cfg.kafkaInternal) } }
      )
    )
    const connector = yield* decode(op, KafkaConnectorDTO, raw)
    const externalKafka = connector.externalKafka ?? false
    const bootstrapServers = connector.bootstrapServers.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    if (bootstrapServers.length === 0) {
      return yield* error(
        new UnexpectedResponse({ operation: op.description, status: raw.status, detail: "no bootstrap servers" })
      )
    }
    const connectorOptions = (connector.options ?? []).map((o) => ({ name: o.name, value: o.value ?? "" }))
    let tls: KafkaConnection["tls"] = Option.none()
    if (!externalKafka && connector.securityProtocol.toUpperCase().includes("SSL")) {
      const credOp: Operation = { description: "get the project user's Kafka certificates", scope: "PROJECT" }
      const credRaw = yield* execute(credOp, HttpClientRequest.get(`/project/${ctx.projectId}/credentials`))
      const creds = yield* decode(credOp, CredentialsDTO, credRaw)
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
    }
  })

  const createKafkaTopic = Effect.fn("HopsworksClient.createKafkaTopic")(function*(spec: KafkaTopicSpec) {
    const ctx = yield* context
    let schemaRef: { readonly name: string; readonly version: number } | undefined
    if (spec.schema !== undefined) {
      const subject = spec.schema.subject
      if (spec.schema.avroSchema !== undefined) {
        const regOp: Operation = { description: `register the Avro schema "${subject}"`, scope: "KAFKA" }
        const regRaw = yield* execute(
          regOp,
          HttpClientRequest.post(`/project/${ctx.projectId}/kafka/subjects/${enc(subject)}/versions`).pipe(
            HttpClientRequest.bodyJsonUnsafe({ schema: spec.schema.avroSchema })
          )
        )
        yield* decode(regOp, SubjectCreated, regRaw)
      }
      const version = spec.schema.avroSchema === undefined && spec.schema.version !== undefined
        ? String(spec.schema.version)
        : "latest"
      const getOp: Operation = { description: `get the Avro subject "${subject}"`, scope: "KAFKA" }
      const getRaw = yield* execute(
        getOp,
        HttpClientRequest.get(`/project/${ctx.projectId}/kafka/subjects/${enc(subject)}/versions/${version}`)
      )
      if (getRaw.status === 404) {
        return yield* error(new SubjectNotFound({ subject, ...optionalCode(errorInfo(getRaw).errorCode) }))
      }
      const found = yield* decode(getOp, SubjectDTO, getRaw)
      schemaRef = { name: subject, version: found.version }
    }
    const body: TopicCreate = {
      name: spec.name,
      numOfPartitions: spec.partitions,
      numOfReplicas: spec.replicas,
      ...(schemaRef === undefined ? {} : { schemaName: schemaRef.name, schemaVersion: schemaRef.version })
    }
    const op: Operation = { description: `create the Kafka topic "${spec.name}"`, scope: "KAFKA" }
    const raw = yield* execute(
      op,
      HttpClientRequest.post(`/project/${ctx.projectId}/kafka/topics`).pipe(HttpClientRequest.bodyJsonUnsafe(body))
    )
    if (raw.status === 409) return { created: false }
    if (raw.status < 200 || raw.status >= 300) return yield* rejected(op, raw)
    return { created: true }
  })

  // -- online ingestion, materialization -----------------------------------------------------

  const createOnlineIngestion = Effect.fn("HopsworksClient.createOnlineIngestion")(
    function*(fg: ResolvedFeatureGroup, numEntries: number | null) {
      if (!fg.onlineEnabled) return Option.none<number>()
      const ctx = yield* context
      const op: Operation = {
        description: `start an online ingestion for "${fg.name}" v${fg.version}`,
        scope: "FEATURESTORE"
      }
      const raw = yield* execute(
        op,
        HttpClientRequest.post(`${fgPath(ctx)}/${fg.featureGroupId}/online_ingestion`).pipe(
          HttpClientRequest.bodyJsonUnsafe({ id: null, numEntries })
        )
      )
      if (raw.status === 404 || raw.status === 405) {
        yield* Effect.logDebug(
          "Hopsworks has no online_ingestion endpoint (server older than 4.2); no onlineIngestionId"
        )
        return Option.none<number>()
      }
      const dto = yield* decode(op, OnlineIngestionDTO, raw)
      return Option.some(dto.id)
    }
  )

  const startMaterialization = Effect.fn("HopsworksClient.startMaterialization")(
    function*(fg: ResolvedFeatureGroup) {
      const ctx = yield* context
      const jobs = [
        `${fg.name}_${fg.version}_offline_fg_materialization`,
        `${fg.name}_${fg.version}_offline_fg_backfill`
      ]
      for (const jobName of jobs) {
        const op: Operation = { description: `start the job "${jobName}"`, scope: "JOB" }
        const raw = yield* execute(
          op,
          HttpClientRequest.post(`/project/${ctx.projectId}/jobs/${enc(jobName)}/executions`).pipe(
            HttpClientRequest.bodyText("", "text/plain")
          )
        )
        if (raw.status === 404) continue // 130009 JOB_NOT_FOUND: try the pre-3.4 name
        const execution = yield* decode(op, ExecutionDTO, raw)
        return { jobName, executionId: execution.id, state: execution.state ?? "INITIALIZING" }
      }
      return yield* error(new JobNotFound({ jobs, project: cfg.project }))
    }
  )

  return HopsworksClient.of({
    resolveFeatureGroup,
    getFeatureGroup,
    kafkaConnection,
    createOnlineIngestion,
    startMaterialization,
    createKafkaTopic
  })
})

const error = (reason: HopsworksErrorReason) => new HopsworksError({ reason })

/** The server's own create-time checks, done first so the message can be precise. */
const validateSpec = (spec: FeatureGroupSpec): Effect.Effect<void, HopsworksError> => {
  const invalid = (detail: string) =>
    Effect.fail(error(new InvalidFeatureGroupSpec({ name: spec.name, version: spec.version, detail })))
  if (!/^[a-z0-9_]*[a-z][a-z0-9_]*$/.test(spec.name)) {
    return invalid("the name must be lower case letters, digits and underscores, with at least one letter")
  }
  if (spec.name.length > 63) return invalid("the name must be at most 63 characters")
  if (spec.features.length === 0) return invalid("it has no features")
  const types = new Map(spec.features.map((f) => [f.name, f.type]))
  if (types.size !== spec.features.length) return invalid("feature names must be unique")
  if (spec.primaryKey.length === 0) return invalid("a stream feature group needs at least one primary key")
  for (const pk of spec.primaryKey) if (!types.has(pk)) return invalid(`primary key "${pk}" is not a feature`)
  if (spec.eventTime !== undefined) {
    const t = types.get(spec.eventTime)
    if (t === undefined) return invalid(`event time "${spec.eventTime}" is not a feature`)
    if (!["timestamp", "date", "bigint"].includes(t.trim().toLowerCase())) {
      return invalid(`event time "${spec.eventTime}" must be of type timestamp, date or bigint, not ${t}`)
    }
  }
  for (const f of spec.features) {
    const problem = hiveTypeProblem(f.type)
    if (problem !== undefined) return invalid(`feature "${f.name}": ${problem}`)
  }
  return Effect.void
}

/** Warns when an existing feature group lacks features the pipeline declares. */
const checkShape = (dto: FeaturegroupDTO, spec: FeatureGroupSpec) => {
  const op = `use feature group "${spec.name}" version ${spec.version}`
  if (dto.features === undefined || dto.features === null || dto.features.length === 0) {
    return Effect.fail(
      error(new UnexpectedResponse({ operation: op, status: 200, detail: "the feature group has no features listed" }))
    )
  }
  const existing = new Set(dto.features.map((f) => f.name))
  const missing = spec.features.filter((f) => !existing.has(f.name)).map((f) => f.name)
  return missing.length === 0 ? Effect.void : Effect.logWarning(
    `Hopsworks feature group ${spec.name} v${spec.version} exists without the features ${missing.join(", ")}; ` +
      "their values will not be written. Create a new version of the feature group to add them."
  )
}

const optionalCode = (errorCode: number | undefined) => (errorCode === undefined ? {} : { errorCode })
const optionalMessage = (serverMessage: string | undefined) => (serverMessage === undefined ? {} : { serverMessage })

/** A transport failure in one line, without request headers. */
const describeTransport = (e: unknown): string => {
  if (typeof e === "object" && e !== null && "reason" in e) {
    const reason = (e as { reason: { _tag?: string; description?: string; cause?: unknown } }).reason
    const cause = reason.cause instanceof Error
      ? (reason.cause.cause instanceof Error ? reason.cause.cause.message : reason.cause.message)
      : undefined
    return [reason._tag, reason.description, cause].filter((s) => typeof s === "string" && s.length > 0).join(": ")
  }
  return e instanceof Error ? e.message : String(e)
}
