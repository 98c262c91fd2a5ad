import { Layer } from "effect"
import { KafkaConfig } from "../../src/config/KafkaConfig.ts"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { KafkaClient } from "../../src/kafka/KafkaClient.ts"
import { kafkaSinkLayer, kafkaSourceLayer } from "../../src/kafka/KafkaLayer.ts"
import { kafkaContract } from "../kafka/KafkaContract.ts"
import { kafkaBootstrap, realKafkaLayer } from "../support/TestKafka.ts"

// kafkajs throughout (KAFKA_CLIENT=kafkajs): its transactions cannot commit as a group member.
kafkaContract(
  "Kafka services on the real local broker",
  (options) => realKafkaLayer({ ...options, producerClient: "kafkajs" }),
  { total: 100_000, fencesStaleMembers: false }
)

// The same contract with plain produces on @platformatic/kafka (KAFKA_PRODUCER_CLIENT=platformatic).
kafkaContract(
  "Kafka services on the real local broker, @platformatic/kafka producer",
  (options) => realKafkaLayer({ ...options, producerClient: "platformatic" }),
  { total: 100_000, fencesStaleMembers: false }
)

// KAFKA_CLIENT=platformatic (the default): consumer groups, produces and transactions on @platformatic/kafka
// (admin stays on kafkajs), chosen the way the service chooses them.
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
  { total: 100_000, fencesStaleMembers: true, cooperative: true }
)
