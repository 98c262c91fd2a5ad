import { kafkaContract } from "../kafka/KafkaContract.ts"
import { realKafkaLayer } from "../support/TestKafka.ts"

kafkaContract("Kafka services on the real local broker", realKafkaLayer, { total: 100_000 })
