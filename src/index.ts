/**
 * Tributary's public API (`import { ... } from "tributary"`): everything a pipeline of one's own needs,
 * and all the built-in pipelines use. docs/api.md describes it; examples/ shows it at work.
 */

// ── Defining a pipeline, and the app that runs a list of them ─────────────────────────────────────
export { erasePipeline, makeCatalog, type PipelineCatalog, type SomePipeline } from "./app/PipelineCatalog.ts"
export {
  definitionProblems,
  isPipelineDefinition,
  loadPipelineModule,
  PipelineModuleError
} from "./app/PipelineModule.ts"
export { type AppOptions, appProgram, runApp } from "./app/TributaryApp.ts"
export type { ExtraCommand } from "./cli/Cli.ts"
export {
  type Adapters,
  type AnyJob,
  type AnyPipeline,
  definePipeline,
  type PipelineDefinition,
  type PipelineServices,
  runPipelineWith,
  simulatePipeline,
  type Simulation
} from "./runner/PipelineDefinition.ts"

// ── Jobs: source, decoder, transform, output ──────────────────────────────────────────────────────
export {
  type InputSettings,
  inputSettings,
  type SchemaRegistrySettings,
  schemaRegistrySettings
} from "./config/SchemaRegistryConfig.ts"
export { ItemsRejected } from "./domain/ItemsRejected.ts"
export { describeIssue, MalformedRecord } from "./domain/MalformedRecord.ts"
export { type Decoded, jsonBatchDecoder } from "./runner/BatchDecoder.ts"
export { DeadLetterHeaders } from "./runner/DeadLetters.ts"
export {
  type AtLeastOnceOutput,
  type Job,
  type JobSource,
  type KafkaTransactionOutput,
  type MapTransform,
  type Output,
  type Rows,
  statelessJob,
  type StoredOffsetsOutput,
  type Transform,
  windowedJob,
  type WindowedTransform
} from "./runner/Job.ts"
export { ensureTopics, runJob } from "./runner/PipelineRunner.ts"
export {
  confluentAvroDecoder,
  type ConfluentAvroOptions,
  type RegistryBatchDecoder
} from "./schema-registry/ConfluentAvroDecoder.ts"
export { type Frame, frame, parseFrame } from "./schema-registry/ConfluentWireFormat.ts"
export { type InputDecoding, inputDecoding, mapDecoding } from "./schema-registry/InputDecoder.ts"
export {
  makeSchemaRegistryClient,
  type RegisteredSchema,
  type SchemaRegistryClient
} from "./schema-registry/SchemaRegistryClient.ts"
export { SchemaRegistryError } from "./schema-registry/SchemaRegistryError.ts"
export { allTransient, type Classifier, errorText, type FailureKind, retryWith } from "./shared/Retry.ts"

// ── Settings every pipeline shares ────────────────────────────────────────────────────────────────
export {
  type DeadLetterPolicy,
  type DeadLetterSettings,
  deadLetterSettings,
  maxFutureSkewMs,
  sourceSettings
} from "./config/PipelineConfig.ts"
export { type SimulatorSettings, simulatorSettings } from "./config/SimulatorConfig.ts"

// ── The event-time window engine and its aggregators (pure) ───────────────────────────────────────
export * from "./window/index.ts"

// ── Kafka ─────────────────────────────────────────────────────────────────────────────────────────
export { InMemoryBroker } from "./kafka/InMemoryBroker.ts"
export { KafkaAdmin, type PartitionOffsets, type TopicSpec } from "./kafka/KafkaAdmin.ts"
export { KafkaError } from "./kafka/KafkaError.ts"
export { isEmbedded, kafkaFromConfig, type KafkaServices } from "./kafka/KafkaLayer.ts"
export {
  type CommitOffset,
  headerString,
  type KafkaRecord,
  nextOffset,
  type OutgoingRecord,
  type TopicPartition
} from "./kafka/KafkaRecord.ts"
export { KafkaSink } from "./kafka/KafkaSink.ts"
export { KafkaSource } from "./kafka/KafkaSource.ts"

// ── Sinks: Hopsworks feature groups, a search index, Cassandra ────────────────────────────────────
export { type SearchSettings, searchSettings } from "./config/EcommerceConfig.ts"
export { type CassandraSettings, cassandraSettings } from "./config/UserEventsConfig.ts"
export { classifyFeatureGroupWrite, type FeatureGroupSink, FeatureStore } from "./hopsworks/FeatureStore.ts"
export { featureStoreFromConfig } from "./hopsworks/FeatureStoreLayer.ts"
export type { FeatureGroupSpec, FeatureSpec, ResolvedFeatureGroup } from "./hopsworks/HopsworksClient.ts"
export { HopsworksError } from "./hopsworks/HopsworksError.ts"
export { localFeatureStoreLayer, type OnlineTable, OnlineTables } from "./hopsworks/LocalFeatureStore.ts"
export { CassandraClient, type Statement } from "./sinks/cassandra/CassandraClient.ts"
export { CassandraError, classifyCassandraError } from "./sinks/cassandra/CassandraError.ts"
export { type SearchDocument, SearchError, SearchIndexer } from "./sinks/search/SearchIndexer.ts"

// ── Observability and tests ───────────────────────────────────────────────────────────────────────
export { inMemoryServices } from "./app/InMemoryServices.ts"
export { PipelineRegistry, PipelineStats, type Topology } from "./observability/PipelineStats.ts"
