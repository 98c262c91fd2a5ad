import { Config, LogLevel, Schema, SchemaTransformation } from "effect"

/**
 * Values people type into environments come in any letter case (`LOG_LEVEL=info`, `KAFKA_SSL=TRUE`,
 * `HOPSWORKS_HOSTNAME_VERIFICATION=False`): these read them so. An unknown value is still a
 * configuration error naming the variable and the accepted values.
 */

/** One of `values`, matched ignoring case and surrounding blanks. */
export const literalsAnyCase = <const L extends string>(values: ReadonlyArray<L>, name: string): Config.Config<L> =>
  Config.schema(
    Schema.String.pipe(Schema.decodeTo(
      Schema.Literals(values),
      // An unknown value passes through unchanged, so the literals reject it and list what is accepted.
      SchemaTransformation.transform<L, string>({
        decode: (s) => (values.find((v) => v.toLowerCase() === s.trim().toLowerCase()) ?? s) as L,
        encode: (v) => v
      })
    )),
    name
  )

const truthy = ["true", "yes", "on", "1", "y"]
const falsy = ["false", "no", "off", "0", "n"]

/** `true`/`false` (also yes/no, on/off, 1/0) in any case. */
export const booleanAnyCase = (name: string): Config.Config<boolean> =>
  Config.map(literalsAnyCase([...truthy, ...falsy], name), (v) => truthy.includes(v))

/** A log level (`info`, `INFO`, `Info`, ...). */
export const logLevelAnyCase = (name: string): Config.Config<LogLevel.LogLevel> =>
  literalsAnyCase(LogLevel.values, name)
