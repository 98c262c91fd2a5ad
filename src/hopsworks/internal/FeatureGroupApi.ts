import { Effect, Option } from "effect"
import { HttpClientRequest } from "effect/http"
import { hiveTypeProblem } from "../AvroSchemaBuilder.ts"
import {
  FeatureGroupNotFound,
  type HopsworksError,
  InvalidFeatureGroupSpec,
  UnexpectedResponse
} from "../HopsworksError.ts"
import type { FeatureGroupSpec, ResolvedFeatureGroup } from "../HopsworksModel.ts"
import {
  FeaturegroupDTO,
  FeaturegroupList,
  featuregroupsOf,
  OnlineIngestionDTO,
  type StreamFeatureGroupCreate,
  type SubjectDTO
} from "../HopsworksSchemas.ts"
import { entityNamePattern, onlineSchemaProblem, onlineTypeOf } from "../OnlineTypes.ts"
import { asHopsworksError, type HopsworksHttp, type Operation } from "./HopsworksHttp.ts"
import { getSubject } from "./KafkaApi.ts"
import type { ProjectContext } from "./ProjectContext.ts"

/** Feature groups: get-or-create, their Avro subject, online ingestions (protocol page §2-§4, §6). */
export const makeFeatureGroupApi = (http: HopsworksHttp, context: Effect.Effect<ProjectContext, HopsworksError>) => {
  const { project } = http.settings
  const enc = encodeURIComponent

  /** GET by name + version; None when it does not exist. */
  const findFeatureGroup = (ctx: ProjectContext, name: string, version: number) => {
    const op: Operation = { description: `get feature group "${name}" version ${version}`, scope: "FEATURESTORE" }
    return http.send(
      op,
      HttpClientRequest.get(`${fgPath(ctx)}/${enc(name)}`, {
        urlParams: { version: String(version), expand: "features" }
      })
    ).pipe(
      Effect.flatMap(http.decode(op, FeaturegroupList)),
      Effect.map((list) => {
        const fgs = featuregroupsOf(list)
        return Option.fromNullishOr(fgs.find((fg) => fg.version === version) ?? fgs[0])
      }),
      // 404 / 270009 is "no such feature group"; 404 / 270008 is the feature store missing
      http.recover(op, (rejected) =>
        (rejected.status === 404 && rejected.errorCode !== 270008) ||
          (rejected.status === 400 && rejected.errorCode === 270009)
          ? Effect.succeed(Option.none<FeaturegroupDTO>())
          : undefined)
    )
  }

  /**
   * POST, once per attempt (a feature group must not be made twice); after an unclear answer the
   * feature group is looked up before another POST. None when someone else created it first
   * (270089), so the caller re-GETs.
   */
  const createFeatureGroup = (ctx: ProjectContext, spec: FeatureGroupSpec) => {
    const op: Operation = {
      description: `create feature group "${spec.name}" version ${spec.version}`,
      scope: "FEATURESTORE",
      creates: "once"
    }
    const attempt = http.sendOnce(
      op,
      HttpClientRequest.post(fgPath(ctx), { urlParams: { expand: "features" } }).pipe(
        HttpClientRequest.bodyJsonUnsafe(createBody(ctx, spec))
      )
    ).pipe(
      Effect.flatMap(http.decode(op, FeaturegroupDTO)),
      Effect.map(Option.some),
      http.recover(
        op,
        (rejected) =>
          rejected.status === 400 && rejected.errorCode === 270089
            ? Effect.succeed(Option.none<FeaturegroupDTO>())
            : undefined
      )
    )
    return http.create<Option.Option<FeaturegroupDTO>, HopsworksError>(op, {
      find: Effect.map(findFeatureGroup(ctx, spec.name, spec.version), (found) => Option.map(found, Option.some)),
      attempt
    })
  }

  /** The latest version of the feature group's Avro subject, from its feature store's registry. */
  const fetchSubject = (ctx: ProjectContext, name: string, version: number) =>
    getSubject(
      http,
      `/project/${ctx.projectId}/featurestores/${ctx.featureStoreId}/kafka/subjects`,
      `${name}_${version}`,
      "latest"
    )

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
          return yield* asHopsworksError(new FeatureGroupNotFound({ name: spec.name, version: spec.version, project }))
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
    if (Option.isNone(dto)) return yield* asHopsworksError(new FeatureGroupNotFound({ name, version, project }))
    const subject = yield* fetchSubject(ctx, name, version)
    return toResolved(ctx, dto.value, subject)
  })

  const createOnlineIngestion = Effect.fn("HopsworksClient.createOnlineIngestion")(
    function*(fg: ResolvedFeatureGroup, numEntries: number | null) {
      if (!fg.onlineEnabled) return Option.none<number>()
      const ctx = yield* context
      // An ingestion made twice is only an unused id: repeatable.
      const op: Operation = {
        description: `start an online ingestion for "${fg.name}" v${fg.version}`,
        scope: "FEATURESTORE",
        creates: "repeatable"
      }
      return yield* http.send(
        op,
        HttpClientRequest.post(`${fgPath(ctx)}/${fg.featureGroupId}/online_ingestion`).pipe(
          HttpClientRequest.bodyJsonUnsafe({ id: null, numEntries })
        )
      ).pipe(
        Effect.flatMap(http.decode(op, OnlineIngestionDTO)),
        Effect.map((dto) => Option.some(dto.id)),
        http.recover(op, (rejected) =>
          rejected.status === 404 || rejected.status === 405
            ? Effect.as(
              Effect.logDebug(
                "Hopsworks has no online_ingestion endpoint (server older than 4.2); no onlineIngestionId"
              ),
              Option.none<number>()
            )
            : undefined)
      )
    }
  )

  return { resolveFeatureGroup, getFeatureGroup, createOnlineIngestion }
}

const fgPath = (ctx: ProjectContext) => `/project/${ctx.projectId}/featurestores/${ctx.featureStoreId}/featuregroups`

const createBody = (ctx: ProjectContext, spec: FeatureGroupSpec): StreamFeatureGroupCreate => {
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
      description: "",
      ...(f.onlineType === undefined ? {} : { onlineType: f.onlineType })
    })),
    deltaStreamerJobConf: { writeOptions: [], sparkJobConfiguration: null }
  }
}

const toResolved = (ctx: ProjectContext, dto: FeaturegroupDTO, subject: SubjectDTO): ResolvedFeatureGroup => {
  const features = (dto.features ?? []).map((f) =>
    f.onlineType === undefined || f.onlineType === null
      ? { name: f.name, type: f.type }
      : { name: f.name, type: f.type, onlineType: f.onlineType }
  )
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

/** The server's own create-time checks, done first so the message can be precise. */
const validateSpec = (spec: FeatureGroupSpec): Effect.Effect<void, HopsworksError> => {
  const invalid = (detail: string) =>
    Effect.fail(asHopsworksError(new InvalidFeatureGroupSpec({ name: spec.name, version: spec.version, detail })))
  const nameRule = "must start with a lower-case letter, then lower-case letters, digits and underscores, " +
    "at most 63 characters"
  if (!entityNamePattern.test(spec.name)) return invalid(`the name ${nameRule}`)
  if (spec.features.length === 0) return invalid("it has no features")
  for (const f of spec.features) {
    if (!entityNamePattern.test(f.name)) return invalid(`feature name "${f.name}" ${nameRule}`)
  }
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
  if (spec.onlineEnabled ?? true) {
    const pk = new Set(spec.primaryKey)
    const problem = onlineSchemaProblem(spec.features.map((f) => ({ ...f, primary: pk.has(f.name) })))
    if (problem !== undefined) return invalid(problem)
  }
  return Effect.void
}

/** Warns when an existing feature group lacks features the pipeline declares. */
const checkShape = (dto: FeaturegroupDTO, spec: FeatureGroupSpec) => {
  const op = `use feature group "${spec.name}" version ${spec.version}`
  if (dto.features === undefined || dto.features === null || dto.features.length === 0) {
    return Effect.fail(
      asHopsworksError(
        new UnexpectedResponse({ operation: op, status: 200, detail: "the feature group has no features listed" })
      )
    )
  }
  const existing = new Map(dto.features.map((f) => [f.name, f]))
  const missing = spec.features.filter((f) => !existing.has(f.name)).map((f) => f.name)
  // An online type asked for now does not change a feature group created before: its rows are checked
  // against the column it has.
  const narrower = spec.features.flatMap((f) => {
    const found = existing.get(f.name)
    if (f.onlineType === undefined || found === undefined || !(dto.onlineEnabled ?? false)) return []
    const has = onlineTypeOf({ type: found.type, onlineType: found.onlineType ?? undefined })
    return has === onlineTypeOf(f) ? [] : [`${f.name} is ${has}, not ${onlineTypeOf(f)}`]
  })
  return Effect.all([
    missing.length === 0 ? Effect.void : Effect.logWarning(
      `Hopsworks feature group ${spec.name} v${spec.version} exists without the features ${missing.join(", ")}; ` +
        "their values will not be written. Create a new version of the feature group to add them."
    ),
    narrower.length === 0 ? Effect.void : Effect.logWarning(
      `Hopsworks feature group ${spec.name} v${spec.version} exists with other online types (${
        narrower.join("; ")
      }); ` +
        "rows are checked against the existing columns. Create a new version of the feature group to change them."
    )
  ], { discard: true })
}
