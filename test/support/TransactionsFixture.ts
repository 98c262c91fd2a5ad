import { type Duration, Effect, Schedule } from "effect"
import { normaliseTransaction, type Transaction } from "../../src/domain/Transaction.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import type { SimulatedRecord } from "../../src/simulator/SimulatedRecord.ts"
import { TransactionsSimulator } from "../../src/simulator/TransactionsSimulator.ts"
import { readTopic, subjectDecoder } from "./FeatureGroupTopic.ts"
import type { LocalHopsworks } from "./LocalHopsworks.ts"

/** Simulated transactions with fixed event times, so tests can compute what the pipeline must write. */
export const simulateTransactions = (count: number, malformedShare: number, seed = 1234) => {
  const simulator = new TransactionsSimulator(seed, malformedShare)
  return Array.from({ length: count }, (_, i) => simulator.next(1_767_225_600_000 + i))
}

export const produceRecords = (topic: string, records: ReadonlyArray<Pick<SimulatedRecord, "key" | "value">>) =>
  Effect.flatMap(KafkaSink, (sink) => sink.send(records.map((r) => ({ topic, key: r.key, value: r.value }))))

export const validTransactions = (records: ReadonlyArray<SimulatedRecord>) =>
  records.filter((r) => !r.malformed).map((r) => normaliseTransaction(JSON.parse(r.value) as Transaction))

/** Environment for `node dist/main.js run transactions` against a broker and a local Hopsworks. */
export const transactionsServiceEnv = (
  bootstrap: string,
  hw: LocalHopsworks,
  topic: string,
  groupId: string,
  extra: Record<string, string> = {}
): Record<string, string> => ({
  KAFKA_BOOTSTRAP_SERVERS: bootstrap,
  KAFKA_TOPIC: topic,
  KAFKA_GROUP_ID: groupId,
  HOPSWORKS_HOST: hw.host,
  HOPSWORKS_PORT: String(hw.port),
  HOPSWORKS_SCHEME: "http",
  HOPSWORKS_PROJECT: hw.project,
  HOPSWORKS_API_KEY: hw.apiKey,
  LOG_LEVEL: "Warn",
  ...extra
})

/** Sum of the group's committed offsets over the topic's partitions. */
export const committedTotal = (groupId: string, topic: string) =>
  Effect.flatMap(
    KafkaAdmin,
    (admin) =>
      Effect.map(admin.committedOffsets(groupId, topic), (cs) => cs.reduce((n, c) => n + Number(c.offset ?? 0), 0))
  )

export const awaitCommitted = (
  groupId: string,
  topic: string,
  total: number,
  timeout: Duration.Input = "120 seconds"
) =>
  committedTotal(groupId, topic).pipe(
    Effect.repeat({ until: (n) => n >= total, schedule: Schedule.spaced("200 millis") }),
    Effect.timeout(timeout)
  )

/** The feature rows on the feature group's topic, decoded with the subject schema (independent of the writer). */
export const featureRows = (hw: LocalHopsworks) =>
  Effect.gen(function*() {
    const admin = yield* KafkaAdmin
    const end = (yield* admin.topicOffsets(hw.onlineTopic)).reduce((n, p) => n + Number(p.high), 0)
    const records = yield* readTopic(hw.onlineTopic, (rs) => rs.length >= end)
    const decode = subjectDecoder(hw.featureGroups()[0]!.subject.schema)
    return records.map((r) => decode(r.value!))
  })
