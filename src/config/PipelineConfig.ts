import { Config } from "effect"

export type DeadLetterPolicy = "dead-letter" | "drop" | "fail"

/** What happens to malformed input. Shared by every pipeline. */
export const deadLetterSettings = Config.all({
  policy: Config.Literals(["dead-letter", "drop", "fail"], "DEAD_LETTER_POLICY").pipe(
    Config.withDefault<DeadLetterPolicy>("dead-letter")
  ),
  /** Overrides `<source topic>.dlq`. */
  topic: Config.option(Config.String("DEAD_LETTER_TOPIC"))
})
export type DeadLetterSettings = Config.Success<typeof deadLetterSettings>

/** The `transactions` pipeline (seed 000): names as in the seed's configuration table. */
export const transactionsSettings = Config.all({
  topic: Config.String("KAFKA_TOPIC").pipe(Config.withDefault("transactions")),
  groupId: Config.String("KAFKA_GROUP_ID").pipe(Config.withDefault("tributary-transactions")),
  featureGroupName: Config.String("FEATURE_GROUP_NAME").pipe(Config.withDefault("transactions")),
  featureGroupVersion: Config.Int("FEATURE_GROUP_VERSION").pipe(Config.withDefault(1)),
  deadLetters: deadLetterSettings
})
export type TransactionsSettings = Config.Success<typeof transactionsSettings>
