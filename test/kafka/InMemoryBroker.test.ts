import { InMemoryBroker } from "../../src/kafka/InMemoryBroker.ts"
import { kafkaContract } from "./KafkaContract.ts"

kafkaContract("Kafka services on the in-memory broker", () => InMemoryBroker.layerWithKafka(), {
  total: 100_000,
  fencesStaleMembers: true,
  cooperative: true
})
