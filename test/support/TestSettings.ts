import { type Config, ConfigProvider, Effect } from "effect"
import { describeConfigError } from "../../src/config/ServiceConfig.ts"

/**
 * Environment variables for {@link settingsFrom}: names exactly as the service reads them. Numbers and
 * booleans are written as the service would see them (`3_600` → `"3600"`, `false` → `"false"`).
 */
export type TestEnv = Readonly<Record<string, string | number | boolean>>

/**
 * Settings for a test, built the way the service builds them: `config` (the same `Config` value the
 * service reads, e.g. `cardAggregatesSettings`) is parsed against an environment holding only `env`
 * (never `process.env`), so every value the test does not state is the configuration's own default.
 * `overrides` then replace fields of the decoded object, for values no variable can express (a
 * computed `Option`, a whole nested object).
 *
 * Synchronous; throws an Error naming the variable when the configuration rejects `env`, and when a
 * name in `env` is one `config` never reads (a misspelt name would otherwise silently test the default).
 *
 * @example
 * settingsFrom(cardAggregatesSettings, { CARD_TRANSACTIONS_TOPIC: topic }, { windowStartFeature: true })
 */
export const settingsFrom = <A>(config: Config.Config<A>, env: TestEnv = {}, overrides: Partial<A> = {}): A => {
  const vars = Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value)]))
  const base = ConfigProvider.fromEnv({ env: vars })
  const read = new Set<string>()
  const provider = ConfigProvider.make((path) => {
    read.add(path.join("_"))
    return base.load(path)
  })
  const parsed = Effect.runSync(
    config.parse(provider).pipe(
      Effect.mapError((error) => new Error(`settingsFrom: ${describeConfigError(error)}`, { cause: error }))
    )
  )
  const unread = Object.keys(vars).filter((name) => !read.has(name))
  if (unread.length > 0) {
    throw new Error(`settingsFrom: this configuration reads no variable named ${unread.join(", ")}`)
  }
  return { ...parsed, ...overrides }
}
