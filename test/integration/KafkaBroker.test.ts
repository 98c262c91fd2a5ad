import { Layer } from "effect"
import { KafkaConfig } from "../../src/config/KafkaConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSinkLayer, kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import { kafkaContract } from "../kafka/KafkaContract.ts"
import { kafkaBootstrap, realKafkaLayer } from "../support/TestKafka.ts"

kafkaContract("Kafka services on the real local broker", realKafkaLayer, { total: 100_000 })

// The same contract with plain produces on @platformatic/kafka (KAFKA_PRODUCER_CLIENT=platformatic).
kafkaContract(
  "Kafka services on the real local broker, @platformatic/kafka producer",
  (options) => realKafkaLayer({ ...options, producerClient: "platformatic" }),
  { total: 100_000 }
)

// KAFKA_CLIENT=platformatic: consumer groups and plain produces on @platformatic/kafka (transactions and
// admin stay on kafkajs), chosen the way the service chooses them.
kafkaContract(
  "Kafka services on the real local broker, @platformatic/kafka source and producer",
  (options) =>
    Layer.fresh(
      Layer.mergeAll(kafkaSourceLayer, kafkaSinkLayer, KafkaAdmin.layer).pipe(
        Layer.provideMerge(KafkaClient.layer),
        Layer.provideMerge(
          KafkaConfig.layerWith({
            ...options,
            client: "platformatic",
            producerClient: "platformatic",
            brokers: [kafkaBootstrap()]
          })
        )
      )
    ),
  { total: 100_000 }
)
