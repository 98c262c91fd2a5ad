import { kafkaContract } from "../kafka/KafkaContract.ts"
import { realKafkaLayer } from "../support/TestKafka.ts"

kafkaContract("Kafka services on the real local broker", realKafkaLayer, { total: 100_000 })

// The same contract with plain produces on @platformatic/kafka (KAFKA_PRODUCER_CLIENT=platformatic).
kafkaContract(
  "Kafka services on the real local broker, @platformatic/kafka producer",
  (options) => realKafkaLayer({ ...options, producerClient: "platformatic" }),
  { total: 100_000 }
)
