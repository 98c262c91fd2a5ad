import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted, Schedule, Stream } from "effect"
import type { HttpClient } from "effect/http"
import { inspect } from "node:util"
import { HopsworksConfig, hopsworksSettings } from "../../src/config/HopsworksConfig.ts"
import { buildFeatureGroupAvroSchemaString } from "../../src/hopsworks/AvroSchemaBuilder.ts"
import { makeFeatureGroupDecoder, makeFeatureGroupEncoder } from "../../src/hopsworks/FeatureGroupWriter.ts"
import { type FeatureGroupSpec, HopsworksClient } from "../../src/hopsworks/HopsworksClient.ts"
import type { HopsworksError } from "../../src/hopsworks/HopsworksError.ts"
import type { SourceEvent } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { KafkaSource } from "../../src/kafka/KafkaSource.ts"
import { type LocalHopsworks, makeLocalHopsworks } from "../support/LocalHopsworks.ts"
import { kafkaBootstrap, realKafkaLayer, uniqueName } from "../support/TestKafka.ts"

const transactions: FeatureGroupSpec = {
  name: "transactions",
  version: 1,
  description: "card transactions",
  // deliberately not in feature-list order: the resolved primary key follows the feature list
  primaryKey: ["user_id", "transaction_id"],
  eventTime: "event_time",
  features: [
    { name: "transaction_id", type: "string" },
    { name: "event_time", type: "bigint" },
    { name: "user_id", type: "string" },
    { name: "amount", type: "double" },
    { name: "currency", type: "string" },
    { name: "category", type: "string" }
  ]
}

const clientLayer = (
  local: LocalHopsworks,
  overrides: Parameters<LocalHopsworks["configLayer"]>[0] = {},
  layer: Layer.Layer<HopsworksClient, HopsworksError, HopsworksConfig | HttpClient.HttpClient> = HopsworksClient.layer
) => layer.pipe(Layer.provide(Layer.mergeAll(local.configLayer(overrides), NodeHttpClient.layerUndici)))

const withClient = <A, E>(
  local: LocalHopsworks,
  f: (client: HopsworksClient["Service"]) => Effect.Effect<A, E>,
  overrides: Parameters<LocalHopsworks["configLayer"]>[0] = {}
) => HopsworksClient.use(f).pipe(Effect.provide(clientLayer(local, overrides), { local: true }))

/** The error's every rendering must be free of the key. */
const assertNoKey = (error: HopsworksError, key: string) => {
  for (const text of [error.message, String(error), JSON.stringify(error), inspect(error, { depth: 10 })]) {
    assert.notInclude(text, key)
  }
}

const local = (options: Parameters<typeof makeLocalHopsworks>[0] = {}) =>
  makeLocalHopsworks({ kafkaBootstrap: kafkaBootstrap(), project: uniqueName("proj").replace("-", "_"), ...options })

describe("HopsworksClient against LocalHopsworks", () => {
  it.live("resolveFeatureGroup creates a missing stream FG once; a second resolve gets the same FG (one POST in total)", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const [first, second] = yield* withClient(
        hw,
        (client) => Effect.all([client.resolveFeatureGroup(transactions), client.resolveFeatureGroup(transactions)])
      )
      assert.deepStrictEqual(second, first)
      assert.strictEqual(first.projectId, hw.projectId)
      assert.strictEqual(first.featureStoreId, hw.featureStoreId)
      assert.strictEqual(first.onlineTopicName, `${hw.project}_onlinefs`)
      assert.isTrue(first.onlineEnabled)
      assert.deepStrictEqual(first.primaryKey, ["transaction_id", "user_id"])
      assert.strictEqual(first.eventTime, "event_time")
      // as the server reports them: strings got the default online column
      assert.deepStrictEqual(
        first.features,
        transactions.features.map((f) => ({ ...f, onlineType: f.type === "string" ? "varchar(100)" : f.type }))
      )
      assert.strictEqual(
        first.subject.schema,
        buildFeatureGroupAvroSchemaString({
          featureGroupName: "transactions",
          version: 1,
          projectName: hw.project,
          features: transactions.features
        })
      )

      const posts = hw.requests().filter((r) => r.method === "POST" && r.path.endsWith("/featuregroups"))
      assert.strictEqual(posts.length, 1)
      const body = JSON.parse(posts[0]!.body) as Record<string, unknown>
      assert.strictEqual(body["type"], "streamFeatureGroupDTO")
      assert.strictEqual(body["onlineEnabled"], true)
      assert.strictEqual(body["eventTime"], "event_time")
      assert.deepStrictEqual(body["statisticsConfig"], {
        enabled: false,
        correlations: false,
        histograms: false,
        exactUniqueness: false,
        columns: []
      })
      assert.deepStrictEqual(
        (body["features"] as Array<{ name: string; primary: boolean }>).map((f) => [f.name, f.primary]),
        [["transaction_id", true], ["event_time", false], ["user_id", true], ["amount", false], ["currency", false], [
          "category",
          false
        ]]
      )
      // every request carried the API key header; the project / feature store lookups were cached
      assert.isTrue(hw.requests().every((r) => r.authorized))
      assert.strictEqual(hw.requests().filter((r) => r.path.startsWith("/project/getProjectInfo/")).length, 1)
      const get = hw.requests().find((r) => r.method === "GET" && r.path.endsWith("/featuregroups/transactions"))
      assert.strictEqual(get?.query.get("version"), "1")
    }))

  it.live("two services resolving the same new FG at once: the loser of the create race (270089) re-reads it", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const [a, b] = yield* Effect.all([
        withClient(hw, (client) => client.resolveFeatureGroup(transactions)),
        withClient(hw, (client) => client.resolveFeatureGroup(transactions))
      ], { concurrency: 2 })
      assert.strictEqual(a.featureGroupId, b.featureGroupId)
      assert.strictEqual(hw.featureGroups().length, 1)
      const posts = hw.requests().filter((r) => r.method === "POST" && r.path.endsWith("/featuregroups"))
      assert.deepStrictEqual(posts.map((r) => r.status).sort(), [201, 400])
    }))

  it.live("wrong API key: BadApiKey says to check HOPSWORKS_API_KEY, and never shows the key", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const wrongKey = "WrongKey123.NotTheRealOne"
      const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(transactions), { apiKey: wrongKey })
        .pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "BadApiKey")
      assert.include(error.message, "HTTP 401")
      assert.include(error.message, "check HOPSWORKS_API_KEY")
      assertNoKey(error, wrongKey)
      assertNoKey(error, hw.apiKey)
      assert.strictEqual(hw.requests().length, 1) // 4xx is never retried
    }))

  it.live("missing KAFKA scope (403 / 320004): MissingScope names the scope to add", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.forbidScope("KAFKA")
      const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(transactions)).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "MissingScope")
      assert.include(error.message, "lacks the KAFKA scope")
      assert.include(error.message, "Avro subject")
      assert.include(error.message, "HOPSWORKS_API_KEY")
      assertNoKey(error, hw.apiKey)
    }))

  it.live("missing JOB scope when starting the materialization job", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.forbidScope("JOB")
      const error = yield* withClient(
        hw,
        (client) => Effect.flatMap(client.resolveFeatureGroup(transactions), client.startMaterialization)
      ).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "MissingScope")
      assert.include(error.message, "lacks the JOB scope")
    }))

  it.live("unknown project (HTTP 400 / 150004): ProjectNotFound says to check HOPSWORKS_PROJECT", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(transactions), { project: "nope" })
        .pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "ProjectNotFound")
      assert.include(error.message, "\"nope\"")
      assert.include(error.message, "check HOPSWORKS_PROJECT")
      assertNoKey(error, hw.apiKey)
    }))

  it.live("getFeatureGroup of a missing FG (404 / 270009): FeatureGroupNotFound, and nothing is created", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const error = yield* withClient(hw, (client) => client.getFeatureGroup("transactions", 3)).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "FeatureGroupNotFound")
      assert.include(error.message, "\"transactions\" version 3 does not exist")
      assert.isFalse(hw.requests().some((r) => r.method === "POST"))
    }))

  it.live("5xx twice, then success: retried with backoff and resolved", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.failNext(2, 503, /\/featuregroups$/)
      const fg = yield* withClient(hw, (client) => client.resolveFeatureGroup(transactions))
      assert.strictEqual(fg.name, "transactions")
      const posts = hw.requests().filter((r) => r.method === "POST" && r.path.endsWith("/featuregroups"))
      assert.deepStrictEqual(posts.map((r) => r.status), [503, 503, 201])
    }))

  it.live("5xx forever: ServerError after 5 attempts (bounded), saying the cluster is failing", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      hw.failNext(1000, 502)
      const error = yield* withClient(hw, (client) => client.resolveFeatureGroup(transactions)).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.include(error.message, "HTTP 502 after 5 attempts")
      assert.include(error.message, "retry later")
      assert.strictEqual(hw.requests().length, 5)
      assertNoKey(error, hw.apiKey)
    }))

  it.live("nothing listening: Unreachable after the bounded retries, pointing at HOPSWORKS_HOST/PORT", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const error = yield* HopsworksClient.use((client) => client.kafkaConnection()).pipe(
        Effect.provide(
          HopsworksClient.layerWith({ maxAttempts: 3, retrySchedule: Schedule.spaced("10 millis") }).pipe(
            Layer.provide(Layer.mergeAll(hw.configLayer({ port: 1 }), NodeHttpClient.layerUndici))
          ),
          { local: true }
        ),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "Unreachable")
      assert.include(error.message, "after 3 attempts")
      assert.include(error.message, "HOPSWORKS_HOST, HOPSWORKS_PORT")
      assertNoKey(error, hw.apiKey)
    }))

  it.live("invalid spec is refused before any request (event time must be bigint/timestamp/date)", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const error = yield* withClient(
        hw,
        (client) => client.resolveFeatureGroup({ ...transactions, eventTime: "currency" })
      )
        .pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "InvalidFeatureGroupSpec")
      assert.include(error.message, "must be of type timestamp, date or bigint")
      assert.strictEqual(hw.requests().length, 0)
    }))

  it.live("HOPSWORKS_HOST unset: the client layer fails with NotConfigured", () =>
    Effect.gen(function*() {
      const error = yield* HopsworksClient.use(() => Effect.void).pipe(
        Effect.provide(
          HopsworksClient.layer.pipe(
            Layer.provide(Layer.mergeAll(HopsworksConfig.layerNone, NodeHttpClient.layerUndici))
          ),
          { local: true }
        ),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "NotConfigured")
      assert.include(error.message, "HOPSWORKS_HOST")
    }))

  it.live("httpClientOptions feeds NodeHttpClient.layerUndiciOptions (HOPSWORKS_HOSTNAME_VERIFICATION=false)", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const http = NodeHttpClient.layerUndiciOptions(HopsworksClient.httpClientOptions({ hostnameVerification: false }))
      const fg = yield* HopsworksClient.use((client) => client.resolveFeatureGroup(transactions)).pipe(
        Effect.provide(HopsworksClient.layer.pipe(Layer.provide(Layer.mergeAll(hw.configLayer(), http))), {
          local: true
        })
      )
      assert.strictEqual(fg.name, "transactions")
    }))

  it.live("kafkaConnection: the byok connector (external listener) -> the real broker, PLAINTEXT, no TLS", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const conn = yield* withClient(hw, (client) => client.kafkaConnection())
      assert.deepStrictEqual(conn.bootstrapServers, [kafkaBootstrap()])
      assert.strictEqual(conn.securityProtocol, "PLAINTEXT")
      assert.isTrue(Option.isNone(conn.tls))
      const req = hw.requests().find((r) => r.path.endsWith("/storageconnectors/kafka_connector/byok"))
      assert.strictEqual(req?.query.get("external"), "true")
      assert.isFalse(hw.requests().some((r) => r.path.endsWith("/credentials")))
    }))

  it.live("online ingestion id (201), or None on a server without the endpoint", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const id = yield* withClient(hw, (client) =>
        Effect.flatMap(client.resolveFeatureGroup(transactions), (fg) => client.createOnlineIngestion(fg, 10)))
      assert.isTrue(Option.isSome(id))
      const req = hw.requests().find((r) =>
        r.path.endsWith("/online_ingestion")
      )
      assert.deepStrictEqual(JSON.parse(req!.body), { id: null, numEntries: 10 })

      const old = yield* local({ onlineIngestion: false })
      const none = yield* withClient(old, (client) =>
        Effect.flatMap(client.resolveFeatureGroup(transactions), (fg) =>
          client.createOnlineIngestion(fg, null)))
      assert.isTrue(Option.isNone(none))
    }))

  it.live("startMaterialization posts an empty text/plain body to <fg>_<v>_offline_fg_materialization", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const execution = yield* withClient(
        hw,
        (client) => Effect.flatMap(client.resolveFeatureGroup(transactions), client.startMaterialization)
      )
      assert.strictEqual(execution.jobName, "transactions_1_offline_fg_materialization")
      assert.strictEqual(execution.state, "INITIALIZING")
      assert.deepStrictEqual(hw.executions().map((e) => e.id), [execution.executionId])
      const req = hw.requests().find((r) => r.method === "POST" && r.path.endsWith("/executions"))
      assert.strictEqual(req?.body, "")
      assert.match(req?.contentType ?? "", /^text\/plain/)
    }))

  it.live("createKafkaTopic: registers the schema, creates the topic; a second call is 'already exists' (409) = ok", () =>
    Effect.gen(function*() {
      const hw = yield* local()
      const topic = uniqueName("source")
      const spec = {
        name: topic,
        partitions: 2,
        replicas: 1,
        schema: { subject: "tx_source", avroSchema: JSON.stringify({ type: "record", name: "tx", fields: [] }) }
      }
      const [first, second] = yield* withClient(
        hw,
        (client) =>
          Effect.all([
            client.createKafkaTopic(spec),
            client.createKafkaTopic({ ...spec, schema: { subject: "tx_source" } })
          ])
      )
      assert.deepStrictEqual([first.created, second.created], [true, false])
      assert.deepStrictEqual(hw.topics()[0], {
        name: topic,
        numOfPartitions: 2,
        numOfReplicas: 1,
        schemaName: "tx_source",
        schemaVersion: 1
      })
    }))

  it.live(
    "end to end: resolve, encode, produce to the FG topic on the real broker, read back and decode",
    () =>
      Effect.gen(function*() {
        const hw = yield* local()
        const { fg, conn, ingestion } = yield* withClient(hw, (client) =>
          Effect.gen(function*() {
            const resolved = yield* client.resolveFeatureGroup(transactions)
            return {
              fg: resolved,
              conn: yield* client.kafkaConnection(),
              ingestion: yield* client.createOnlineIngestion(resolved, 3)
            }
          }))
        assert.deepStrictEqual(conn.bootstrapServers, [kafkaBootstrap()])
        const encoder = makeFeatureGroupEncoder(fg, { onlineIngestionId: Option.getOrUndefined(ingestion) })
        const rows = [1, 2, 3].map((i) => ({
          transaction_id: `t${i}`,
          event_time: 1_700_000_000_000 + i,
          user_id: `u${i}`,
          amount: i * 1.5,
          currency: "EUR",
          category: "food"
        }))
        const decoded = yield* Effect.gen(function*() {
          yield* (yield* KafkaSink).send(encoder.encode(rows))
          const sub = yield* (yield* KafkaSource).subscribe({
            groupId: uniqueName("hw-e2e"),
            topics: [fg.onlineTopicName]
          })
          return yield* sub.events.pipe(
            Stream.filter((e): e is Extract<SourceEvent, { _tag: "Batch" }> => e._tag === "Batch"),
            Stream.flatMap((b) => Stream.fromIterable(b.records)),
            Stream.take(3),
            Stream.runCollect,
            Effect.timeout("60 seconds")
          )
        }).pipe(Effect.scoped, Effect.provide(realKafkaLayer(), { local: true }))
        const decoder = makeFeatureGroupDecoder(fg)
        const byId = new Map(decoded.map((r) => [r.key!.toString(), r]))
        for (const row of rows) {
          const record = byId.get(`${row.transaction_id};${row.user_id}`)
          assert.isDefined(record)
          assert.deepStrictEqual(decoder.decode(record!.value!), row)
          assert.strictEqual(record!.headers["featureGroupId"]?.toString(), String(fg.featureGroupId))
          assert.strictEqual(record!.headers["subjectId"]?.toString(), String(fg.subject.id))
          assert.strictEqual(record!.headers["projectId"]?.toString(), String(hw.projectId))
          assert.isDefined(record!.headers["onlineIngestionId"])
        }
      }),
    120_000
  )
})

const parse = (env: Record<string, string>) => hopsworksSettings.parse(ConfigProvider.fromEnv({ env }))

describe("HopsworksConfig", () => {
  it.effect("HOPSWORKS_HOST unset: None (the emulator is used)", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* parse({})))
      assert.isTrue(Option.isNone(yield* parse({ HOPSWORKS_PROJECT: "p" })))
    }))

  it.effect("host set: defaults, and the API key is Redacted", () =>
    Effect.gen(function*() {
      const s = yield* parse({
        HOPSWORKS_HOST: "c.hopsworks.ai",
        HOPSWORKS_PROJECT: "fraud",
        HOPSWORKS_API_KEY: " k.ey "
      })
      assert.isTrue(Option.isSome(s))
      const v = Option.getOrThrow(s)
      assert.strictEqual(v.port, 443)
      assert.strictEqual(v.scheme, "https")
      assert.isTrue(v.hostnameVerification)
      assert.isFalse(v.kafkaInternal)
      assert.strictEqual(Redacted.value(v.apiKey), "k.ey")
      assert.notInclude(String(v.apiKey), "k.ey")
      assert.notInclude(JSON.stringify(v), "k.ey")
    }))

  it.effect("host set but no API key or project: an error, not a silent None", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(parse({ HOPSWORKS_HOST: "c.hopsworks.ai", HOPSWORKS_PROJECT: "fraud" }))
      assert.include(String(error), "HOPSWORKS_API_KEY")
      const scheme = yield* Effect.flip(
        parse({ HOPSWORKS_HOST: "h", HOPSWORKS_PROJECT: "p", HOPSWORKS_API_KEY: "k", HOPSWORKS_SCHEME: "ftp" })
      )
      assert.include(String(scheme), "HOPSWORKS_SCHEME")
    }))
})
