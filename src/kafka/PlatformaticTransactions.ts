import type { Consumer, Producer } from "@platformatic/kafka"
import { Duration, Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import { groupInstanceIdFor, KafkaConfig } from "../config/KafkaConfig.ts"
import { transientBackoff } from "../shared/Retry.ts"
import { KafkaClient } from "./KafkaClient.ts"
import { KafkaError, kafkaError } from "./KafkaError.ts"
import { chunksBySize, type TransactionalProducer } from "./KafkaSink.ts"
import { hasError, isStaleMembership } from "./PlatformaticConsumerApi.ts"
import { messageConverter, producerOptions, retryDelayMs } from "./PlatformaticSink.ts"
import { OneBufferProducer } from "./ProduceRequest.ts"

/**
 * Kafka transactions on @platformatic/kafka, exactly-once across replicas (KIP-447):
 *
 * - **One transactional id per process instance**: `<output id>-<KAFKA_GROUP_INSTANCE_ID>` (the instance
 *   id template applied to the output id), else `<output id>.<random UUID>` per process. Replicas
 *   never fence each other; a restart with the same instance id fences its predecessor.
 * - **Initialised before the consumer joins** (the runner asks for the producer first): a restarted
 *   instance has aborted its predecessor's open transaction before it reads any start offset.
 * - **Offsets committed as the group member that read them** (the generation of the assignment): a
 *   member that has lost its partitions since gets its transaction refused and aborted ("stale"), so
 *   it can never commit output for them. Start offsets are read as stable offsets (see
 *   PlatformaticConsumerApi.committedOffsets): the new owner waits for a transaction still open.
 * - **No wedge**: any other failure aborts if it can, closes the producer and opens a new one on the
 *   next attempt; its InitProducerId aborts whatever the old one left open.
 */
/**
 * The delay before a request is retried. A transaction begun right after the previous one ended
 * meets CONCURRENT_TRANSACTIONS while the broker still writes the previous one's markers, which
 * usually takes milliseconds: waiting the usual 300 ms there capped a pipeline at about three
 * transactions a second. Those retries start at 10 ms and double, which over the client's 8 retries
 * still waits 2.5 s in all (a loaded broker); every other error waits `producerOptions`' delay.
 */
const transactionRetryDelay = (_client: unknown, _operation: string, attempt: number, _retries: number, error: Error) =>
  hasError(error, "CONCURRENT_TRANSACTIONS") ? 10 * 2 ** (attempt - 1) : retryDelayMs

export const makePlatformaticTransactional = Effect.gen(function*() {
  const client = yield* KafkaClient
  const settings = yield* KafkaConfig
  return Effect.fn("PlatformaticTransactions.transactional")(function*(outputId: string) {
    const transactionalId = Option.match(settings.groupInstanceId, {
      onNone: () => `${outputId}.${randomUUID()}`,
      onSome: (template) => groupInstanceIdFor(template, outputId)
    })
    const toMessage = messageConverter()
    const open = async () => {
      const producer = new OneBufferProducer({
        ...producerOptions(client, settings),
        idempotent: true,
        transactionalId,
        // The broker's transaction timeout (InitProducerId); also each produce request's.
        timeout: settings.transactionTimeoutMs,
        // InitProducerId as a new producer (-1/-1): the client's default (0/0) claims to be producer 0,
        // which the broker refuses (PRODUCER_FENCED) once this transactional id has a producer.
        producerId: -1n,
        producerEpoch: -1,
        retryDelay: transactionRetryDelay
      })
      try {
        // InitProducerId now (it fences a predecessor with this id); the empty transaction is only local.
        await producer.beginTransaction()
        await producer.transaction!.cancel()
        return producer
      } catch (e) {
        void producer.close(true).catch(() => undefined)
        throw e
      }
    }
    // While the broker still aborts what a crashed predecessor left open it answers
    // CONCURRENT_TRANSACTIONS; the wait is bounded by the transaction timeout.
    let current: Producer<Buffer, Buffer, Buffer, Buffer> | undefined = yield* Effect.tryPromise({
      try: open,
      catch: kafkaError(`transactional producer ${transactionalId} init`)
    }).pipe(
      Effect.tapError((e) => Effect.logWarning(`${e.message}; retrying`)),
      Effect.retry({ schedule: transientBackoff, times: 20 })
    )
    yield* Effect.addFinalizer(() => Effect.promise(async () => current?.close(true).catch(() => undefined)))
    yield* Effect.logDebug(`transactional producer ${transactionalId} ready`)

    /** Drops `producer` (if it is still the current one): the next attempt opens a fresh one. */
    const replace = (producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined) => {
      if (producer !== undefined && current === producer) current = undefined
      void producer?.close(true).catch(() => undefined)
    }
    // A transaction normally ends within the broker's transaction timeout; one that never settles
    // (a connection the client still waits on after a broker restart) must not hold the job for good.
    const attemptLimitMs = 2 * settings.transactionTimeoutMs + 10_000

    const sendAndCommit: TransactionalProducer["sendAndCommit"] = (records, { groupId, membership, offsets }) => {
      let attempted: Producer<Buffer, Buffer, Buffer, Buffer> | undefined
      return Effect.tryPromise({
        try: async () => {
          if (offsets.length > 0 && membership === undefined) {
            throw new Error("offsets committed in a transaction need the consumer's group membership")
          }
          current ??= await open()
          const producer = current
          attempted = producer
          const transaction = await producer.beginTransaction()
          try {
            for (const chunk of chunksBySize(records)) {
              await transaction.send({ messages: chunk.map(toMessage) })
            }
            if (offsets.length > 0) {
              // AddOffsetsToTxn reads only the group id of the consumer it is given.
              await transaction.addConsumer({ groupId } as Consumer)
              await membership!.commitInTransaction({
                transactionalId,
                producerId: producer.producerId!,
                producerEpoch: producer.producerEpoch!
              }, offsets)
            }
            await transaction.commit()
            return "committed" as const
          } catch (error) {
            const stale = isStaleMembership(error)
            const aborted = await transaction.abort().then(() => true, () => false)
            // After any other failure, or an abort that failed, the next attempt starts from a fresh
            // producer, whatever state this one is in.
            if (!(stale && aborted)) replace(producer)
            if (stale) return "stale" as const
            throw error
          }
        },
        catch: kafkaError(`transaction ${transactionalId}`)
      }).pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(attemptLimitMs),
          orElse: () =>
            Effect.suspend(() => {
              replace(attempted)
              return Effect.fail(
                new KafkaError({
                  operation: `transaction ${transactionalId}`,
                  message: `no answer within ${attemptLimitMs} ms; the producer is replaced`
                })
              )
            })
        })
      )
    }
    return { sendAndCommit }
  })
})
