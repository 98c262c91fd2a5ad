import { Context, Effect, Layer, Option } from "effect"
import { deadLetterMaxBytes } from "../config/PipelineConfig.ts"
import { KafkaAdmin } from "../kafka/KafkaAdmin.ts"
import { headerString, type KafkaRecord } from "../kafka/KafkaRecord.ts"
import { KafkaSink } from "../kafka/KafkaSink.ts"
import type { KafkaSource } from "../kafka/KafkaSource.ts"
import { PipelineRegistry } from "../observability/PipelineStats.ts"
import { statelessJob } from "../runner/Job.ts"
import { runJob } from "../runner/PipelineRunner.ts"
import { buildFeatureGroupAvroSchemaString } from "./AvroSchemaBuilder.ts"
import { makeFeatureGroupDecoder } from "./FeatureGroupWriter.ts"
import { FeatureStore, writerFor } from "./FeatureStore.ts"
import type { ResolvedFeatureGroup } from "./HopsworksClient.ts"
import { onlineTypeOf } from "./OnlineTypes.ts"

interface Entry {
  readonly fg: ResolvedFeatureGroup
  readonly table: Map<string, Record<string, unknown>>
  applied: number
}

const asTable = (e: Entry): OnlineTable => ({ featureGroup: e.fg, rows: e.table, applied: e.applied })

/** The emulated project: its name gives the topic (`<project>_onlinefs`) and the Avro namespace, as on a server. */
const project = { id: 119, name: "tributary" }

export interface OnlineTable {
  readonly featureGroup: ResolvedFeatureGroup
  /** Rows by primary key (values joined with ";"), the newest write winning, as an online store upserts. */
  readonly rows: ReadonlyMap<string, Readonly<Record<string, unknown>>>
  /** Records read from the topic for this feature group (including overwrites of the same key). */
  readonly applied: number
}

/**
 * The online rows this process can show (dashboard, demo, tests). Only the local emulator has them;
 * with Hopsworks the online store is remote and this view is empty.
 */
export class OnlineTables extends Context.Service<OnlineTables, {
  readonly tables: Effect.Effect<ReadonlyArray<OnlineTable>>
  readonly table: (name: string, version: number) => Effect.Effect<Option.Option<OnlineTable>>
}>()("tributary/hopsworks/OnlineTables") {
  static readonly layerRemote = Layer.succeed(
    OnlineTables,
    OnlineTables.of({ tables: Effect.succeed([]), table: () => Effect.succeedNone })
  )
}

/**
 * A feature store without a cluster, for the embedded demo and tests: feature-group metadata and
 * Avro subjects made here the way the server makes them, rows written by the same writer to the app's
 * Kafka, and an in-process materializer that reads the topic back (decoding with the subject schema,
 * keeping only records whose headers name the feature group) and upserts an online table.
 */
export const localFeatureStoreLayer = Layer.effectContext(
  Effect.gen(function*() {
    const sink = yield* KafkaSink
    // The materializer consumes (from a forked fiber) with the layer's Kafka services.
    const kafka = yield* Effect.context<KafkaSink | KafkaSource | KafkaAdmin>()
    const admin = yield* KafkaAdmin
    const scope = yield* Effect.scope
    const topic = `${project.name}_onlinefs`
    yield* admin.createTopics([{ topic, partitions: 1 }])
    const groups = new Map<string, Entry>()
    let executions = 0

    /** Reads the topic back into the online table, as the online store does (upsert by primary key). */
    const materialize = (entry: Entry) => {
      const { fg } = entry
      const decoder = makeFeatureGroupDecoder(fg)
      const keyOf = (row: Record<string, unknown>) => fg.primaryKey.map((k) => String(row[k])).join(";")
      // Other feature groups share the topic: only records whose headers name this one are rows of it.
      const mine = (record: KafkaRecord) =>
        record.value !== null && headerString(record, "featureGroupId") === String(fg.featureGroupId) &&
        headerString(record, "subjectId") === String(fg.subject.id)
      const job = statelessJob({
        name: `online-materializer-${fg.name}_${fg.version}`,
        source: {
          groupId: `online-materializer-${fg.name}_${fg.version}`,
          topics: [topic],
          deadLetters: { policy: "drop", topic: Option.none(), maxRecordBytes: deadLetterMaxBytes }
        },
        decode: (records) => ({
          valid: records.filter(mine).map((record) => ({ record, value: decoder.decode(record.value!) })),
          malformed: []
        }),
        output: {
          _tag: "AtLeastOnce",
          write: (rows: ReadonlyArray<Record<string, unknown>>) =>
            Effect.sync(() => {
              for (const row of rows) entry.table.set(keyOf(row), row)
              entry.applied += rows.length
              return []
            })
        }
      })
      // Its own stats registry: the materializer is part of the emulator, not one of the service's pipelines.
      return runJob(job).pipe(
        Effect.scoped,
        Effect.provideServiceEffect(PipelineRegistry, PipelineRegistry.make),
        Effect.provideContext(kafka)
      )
    }

    const resolve = (spec: Parameters<FeatureStore["Service"]["featureGroup"]>[0]) =>
      Effect.gen(function*() {
        const id = `${spec.name}_${spec.version}`
        const existing = groups.get(id)
        if (existing !== undefined) return existing
        const onlineEnabled = spec.onlineEnabled ?? true
        // As the server reports them: with the online column each feature got.
        const featureList = spec.features.map((f) =>
          onlineEnabled ? { name: f.name, type: f.type, onlineType: onlineTypeOf(f) } : { name: f.name, type: f.type }
        )
        const fg: ResolvedFeatureGroup = {
          projectId: project.id,
          featureStoreId: 67,
          featureGroupId: 1000 + groups.size,
          name: spec.name,
          version: spec.version,
          onlineTopicName: topic,
          onlineEnabled,
          primaryKey: featureList.map((f) => f.name).filter((n) => spec.primaryKey.includes(n)),
          eventTime: spec.eventTime,
          features: featureList,
          subject: {
            id: 2000 + groups.size,
            version: 1,
            schema: buildFeatureGroupAvroSchemaString({
              featureGroupName: spec.name,
              version: spec.version,
              projectName: project.name,
              features: featureList
            })
          }
        }
        const entry = { fg, table: new Map<string, Record<string, unknown>>(), applied: 0 }
        groups.set(id, entry)
        yield* Effect.forkIn(materialize(entry), scope)
        return entry
      })

    const featureStore = FeatureStore.of({
      featureGroup: (spec) => Effect.map(resolve(spec), ({ fg }) => writerFor(fg, Option.some(1), sink)),
      materialize: (name, version) =>
        Effect.sync(() => {
          executions++
          const entry = groups.get(`${name}_${version}`)
          return {
            jobName: `${name}_${version}_offline_fg_materialization`,
            executionId: executions,
            state: entry === undefined ? "FAILED" : "FINISHED"
          }
        })
    })
    const local = OnlineTables.of({
      tables: Effect.sync(() => [...groups.values()].map(asTable)),
      table: (name, version) =>
        Effect.sync(() => Option.map(Option.fromNullishOr(groups.get(`${name}_${version}`)), asTable))
    })
    return Context.make(FeatureStore, featureStore).pipe(Context.add(OnlineTables, local))
  })
)
