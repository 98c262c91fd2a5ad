import { Schema } from "effect"

/**
 * Wire schemas for the Hopsworks REST bodies this service reads and writes (camelCase JSON, see
 * /work/shared/design/hopsworks-protocol.md). Only the fields we use are required; the server sends
 * many more (ignored) and often sends `null` for absent ones, hence `optionalKey(NullOr(...))`.
 */

const opt = <S extends Schema.Top>(s: S) => Schema.optionalKey(Schema.NullOr(s))

/** `GET /project/getProjectInfo/{name}`. */
export const ProjectDTO = Schema.Struct({
  projectId: Schema.Int,
  projectName: opt(Schema.String),
  featureStoreTopic: opt(Schema.String)
})

/** `GET /project/{id}/featurestores/{name}`. `projectId` is the project that OWNS the feature store. */
export const FeaturestoreDTO = Schema.Struct({
  featurestoreId: Schema.Int,
  featurestoreName: Schema.String,
  projectId: Schema.Int,
  projectName: opt(Schema.String),
  onlineEnabled: opt(Schema.Boolean)
})

/** One feature of a feature group; `type` is the Hive (offline) type. */
const FeatureDTO = Schema.Struct({
  name: Schema.String,
  type: Schema.String,
  primary: opt(Schema.Boolean),
  partition: opt(Schema.Boolean),
  hudiPrecombineKey: opt(Schema.Boolean),
  onlineType: opt(Schema.String),
  description: opt(Schema.String)
})

const StatisticsConfigDTO = Schema.Struct({
  enabled: Schema.Boolean,
  correlations: Schema.Boolean,
  histograms: Schema.Boolean,
  exactUniqueness: Schema.Boolean,
  columns: Schema.Array(Schema.String)
})

/** A feature group as the server returns it (any of the polymorphic `type`s). */
export const FeaturegroupDTO = Schema.Struct({
  type: opt(Schema.String),
  id: Schema.Int,
  name: Schema.String,
  version: Schema.Int,
  description: opt(Schema.String),
  featurestoreId: opt(Schema.Int),
  featurestoreName: opt(Schema.String),
  onlineEnabled: opt(Schema.Boolean),
  onlineTopicName: opt(Schema.String),
  topicName: opt(Schema.String),
  eventTime: opt(Schema.String),
  timeTravelFormat: opt(Schema.String),
  features: opt(Schema.Array(FeatureDTO))
})
export type FeaturegroupDTO = typeof FeaturegroupDTO.Type

/**
 * `GET .../featuregroups/{name}?version=v` answers a JSON ARRAY. Some proxies/versions wrap lists in
 * `{items: [...]}`, and the deprecated by-id path returns one object; all three are accepted.
 */
export const FeaturegroupList = Schema.Union([
  Schema.Array(FeaturegroupDTO),
  Schema.Struct({ items: Schema.Array(FeaturegroupDTO) }),
  FeaturegroupDTO
])
export type FeaturegroupList = typeof FeaturegroupList.Type

export const featuregroupsOf = (list: FeaturegroupList): ReadonlyArray<FeaturegroupDTO> =>
  Array.isArray(list) ? list : "items" in list ? list.items : [list as FeaturegroupDTO]

/** Body of `POST .../featuregroups` for a stream feature group. */
export const StreamFeatureGroupCreate = Schema.Struct({
  type: Schema.Literal("streamFeatureGroupDTO"),
  name: Schema.String,
  version: Schema.Int,
  description: Schema.String,
  featurestoreId: Schema.Int,
  onlineEnabled: Schema.Boolean,
  timeTravelFormat: Schema.String,
  eventTime: Schema.NullOr(Schema.String),
  statisticsConfig: StatisticsConfigDTO,
  features: Schema.Array(Schema.Struct({
    name: Schema.String,
    type: Schema.String,
    primary: Schema.Boolean,
    partition: Schema.Boolean,
    hudiPrecombineKey: Schema.Boolean,
    description: Schema.String,
    /** Only when the pipeline asks for a column other than the server's default. */
    onlineType: Schema.optionalKey(Schema.String)
  })),
  deltaStreamerJobConf: Schema.Struct({
    writeOptions: Schema.Array(Schema.Struct({ name: Schema.String, value: Schema.String })),
    sparkJobConfiguration: Schema.Null
  })
})
export type StreamFeatureGroupCreate = typeof StreamFeatureGroupCreate.Type

/** `GET .../kafka/subjects/{subject}/versions/{latest|n}`. `id` is the schema id (the `subjectId` header). */
export const SubjectDTO = Schema.Struct({
  id: Schema.Int,
  subject: Schema.String,
  version: Schema.Int,
  schema: Schema.String
})
export type SubjectDTO = typeof SubjectDTO.Type

/** `POST /project/{id}/kafka/subjects/{subject}/versions` answers at least the schema id. */
export const SubjectCreated = Schema.Struct({
  id: Schema.Int,
  version: opt(Schema.Int)
})

const OptionDTO = Schema.Struct({ name: Schema.String, value: opt(Schema.String) })

/**
 * `GET .../storageconnectors/kafka_connector/byok?external=...` (server `FeatureStoreKafkaConnectorDTO`).
 * For BYOK the store locations are files in the project's datasets (JKS as both hsfs clients read
 * them) and the passwords come in clear: they are wrapped in Redacted as soon as they are read.
 */
export const KafkaConnectorDTO = Schema.Struct({
  type: opt(Schema.String),
  id: opt(Schema.Int),
  name: opt(Schema.String),
  bootstrapServers: Schema.String,
  securityProtocol: Schema.String,
  sslTruststoreLocation: opt(Schema.String),
  sslTruststorePassword: opt(Schema.String),
  sslKeystoreLocation: opt(Schema.String),
  sslKeystorePassword: opt(Schema.String),
  sslKeyPassword: opt(Schema.String),
  sslEndpointIdentificationAlgorithm: opt(Schema.String),
  externalKafka: opt(Schema.Boolean),
  options: opt(Schema.Array(OptionDTO))
})
export type KafkaConnectorDTO = typeof KafkaConnectorDTO.Type

/**
 * `GET /project/{id}/credentials` (server `AccessCredentialsDTO`): the project user's key and
 * certificate chain, and the CA chain, as PEM strings made from the user's JKS stores, which come
 * along base64-encoded (`kStore`, `tStore`, `password`, `fileExtension: "jks"`) and are not needed.
 */
export const CredentialsDTO = Schema.Struct({
  caChain: Schema.String,
  clientCert: Schema.String,
  clientKey: Schema.String,
  fileExtension: opt(Schema.String)
})

const OnlineIngestionResultDTO = Schema.Struct({
  onlineIngestionId: opt(Schema.Int),
  status: opt(Schema.String),
  rows: opt(Schema.Int)
})

export const OnlineIngestionDTO = Schema.Struct({
  id: Schema.Int,
  numEntries: opt(Schema.Int),
  results: opt(Schema.Array(OnlineIngestionResultDTO))
})

/** `POST /project/{id}/jobs/{name}/executions` (201). */
export const ExecutionDTO = Schema.Struct({
  id: Schema.Int,
  state: opt(Schema.String),
  finalStatus: opt(Schema.String),
  submissionTime: opt(Schema.String)
})

export type ExecutionDTO = typeof ExecutionDTO.Type

/** `GET /project/{id}/jobs/{name}/executions?limit=..&sort_by=..`: `items` is absent when there are none. */
export const ExecutionList = Schema.Struct({
  count: opt(Schema.Int),
  items: opt(Schema.Array(ExecutionDTO))
})

/** `GET /project/{id}/jobs/{name}`: only the arguments an execution runs with by default. */
export const JobDTO = Schema.Struct({
  name: Schema.String,
  config: opt(Schema.Struct({ defaultArgs: opt(Schema.String) }))
})

/** Body of `POST /project/{id}/kafka/topics`. */
export const TopicCreate = Schema.Struct({
  name: Schema.String,
  numOfPartitions: Schema.Int,
  numOfReplicas: Schema.Int,
  schemaName: Schema.optionalKey(Schema.String),
  schemaVersion: Schema.optionalKey(Schema.Int)
})
export type TopicCreate = typeof TopicCreate.Type

/** Normal REST error body (`JsonResponse`). */
const RestErrorBody = Schema.Struct({
  errorCode: opt(Schema.Int),
  errorMsg: opt(Schema.String),
  usrMsg: opt(Schema.String),
  devMsg: opt(Schema.String)
})

/** Schema-registry endpoints' error body (Confluent style). */
const SchemaRegistryErrorBody = Schema.Struct({
  error_code: Schema.Int,
  message: opt(Schema.String)
})

/** Either error body, read from the raw text of a non-2xx response. */
export const ErrorBodyFromJson = Schema.fromJsonString(Schema.Union([SchemaRegistryErrorBody, RestErrorBody]))
