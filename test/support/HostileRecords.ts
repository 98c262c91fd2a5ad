/**
 * Hostile Kafka records for the fuzz tests (test/integration/Fuzz*.test.ts): one table of categories
 * (not JSON, bytes that are not UTF-8, wrong types, nulls, empty and missing values, NUL, lone
 * surrogates, oversized text, deep nesting, huge arrays, `1e400`, `-0`, duplicate keys, a record too
 * large to dead-letter whole), turned into concrete records by each pipeline's field list. The field
 * list states, case by case, what the pipeline must do with the records whose fate depends on it
 * (written or dead-lettered, or late for windowed pipelines); whatever no JSON schema can accept is
 * dead-lettered everywhere.
 *
 * The second half runs a corpus through the real service: produced in order to a one-partition topic
 * (offset = position in the corpus), polled while the process is watched, dead letters read back.
 */
import { Effect } from "effect"
import { KafkaAdmin } from "../../src/kafka/KafkaAdmin.ts"
import { headerString, type KafkaRecord } from "../../src/kafka/KafkaRecord.ts"
import { KafkaSink } from "../../src/kafka/KafkaSink.ts"
import { DeadLetterHeaders } from "../../src/runner/DeadLetters.ts"
import { readTopic } from "./FeatureGroupTopic.ts"
import { type GroupMember, startMember } from "./ServiceGroup.ts"

// ---------------------------------------------------------------------------------------------
// JSON text with pieces JSON.stringify cannot write (`1e400`, `-0`, bytes that are not UTF-8)

const rawTag = Symbol("raw JSON")

/** Bytes placed verbatim where this value stands in the JSON text. */
export interface Raw {
  readonly [rawTag]: Buffer
}

export const raw = (text: string | Buffer): Raw => ({ [rawTag]: Buffer.isBuffer(text) ? text : Buffer.from(text) })

const isRaw = (u: unknown): u is Raw => typeof u === "object" && u !== null && rawTag in u

/** The JSON text of `value` as bytes, with every `raw(...)` piece spliced in as it is. */
export const jsonBytes = (value: unknown): Buffer => {
  const pieces: Array<Buffer> = []
  const text = JSON.stringify(value, (_key, v: unknown) => (isRaw(v) ? `\u0001raw:${pieces.push(v[rawTag]) - 1}` : v))
  const out: Array<Buffer> = []
  let at = 0
  for (const m of text.matchAll(/"\\u0001raw:(\d+)"/g)) {
    out.push(Buffer.from(text.slice(at, m.index)), pieces[Number(m[1])]!)
    at = m.index + m[0].length
  }
  out.push(Buffer.from(text.slice(at)))
  return Buffer.concat(out)
}

/** A string inside the JSON text whose middle is `bytes` (e.g. not UTF-8): `"<before><bytes><after>"`. */
export const stringWithBytes = (before: string, bytes: ReadonlyArray<number>, after = ""): Raw =>
  raw(Buffer.concat([Buffer.from(JSON.stringify(before).slice(0, -1)), Buffer.from(bytes), Buffer.from(`${after}"`)]))

// ---------------------------------------------------------------------------------------------
// the corpus

/** `written` / `dead-lettered` for every pipeline; windowed pipelines add their own (e.g. `late`). */
export type Outcome = string

/** Cases whose outcome depends on the pipeline: each applicable one must be stated in the field list. */
export interface FieldOutcomes<O extends Outcome> {
  /** Strings: `""`. */
  readonly empty?: O
  /** Strings: a NUL character inside. */
  readonly nul?: O
  /** Strings: a lone UTF-16 surrogate (`"\ud800"` in the JSON), which has no UTF-8 form. */
  readonly loneSurrogate?: O
  /** Strings: 70 KiB more of incompressible text. */
  readonly oversized?: O
  /** Numbers: `-0`. */
  readonly negativeZero?: O
  /** The field left out (default: dead-lettered). */
  readonly missing?: O
}

/** A value at the edge of what the pipeline or its sinks take (a column's range, a far-future time). */
export interface Edge<O extends Outcome> {
  readonly label: string
  readonly value: unknown
  readonly outcome: O
}

export interface FieldSpec<O extends Outcome> {
  readonly name: string
  /** The JSON types the field accepts. */
  readonly types: ReadonlyArray<"string" | "number" | "object">
  readonly outcomes: FieldOutcomes<O>
  readonly edges?: ReadonlyArray<Edge<O>>
}

export interface CorpusSpec<O extends Outcome> {
  /** A valid record value, unique by `n`, at `eventTime` (epoch ms). */
  readonly good: (n: number, eventTime: number) => Record<string, unknown>
  /** The Kafka key of a record value. */
  readonly key: (value: Record<string, unknown>) => string
  /** The field that names a record in the sink (its id, or the key windows are computed by). */
  readonly idField: string
  readonly fields: ReadonlyArray<FieldSpec<O>>
  /** Cases of the pipeline's own that change several fields, built from a good record (in this order). */
  readonly records?: ReadonlyArray<{
    readonly label: string
    readonly build: (good: Record<string, unknown>) => Record<string, unknown>
    readonly outcome: O
  }>
  readonly written: O
  readonly deadLettered: O
}

export interface HostileCase<O extends Outcome> {
  /** What was done to the record, e.g. `amount: -0`. */
  readonly label: string
  readonly key: string | null
  readonly value: Buffer | null
  readonly outcome: O
  /** Too large to dead-letter whole: its dead letter is a flagged prefix. */
  readonly tooLargeToDeadLetter?: boolean
  /** A value that appears in the record (the first of two duplicate keys) but must never be written. */
  readonly shadowed?: unknown
}

export interface CorpusEntry<O extends Outcome> {
  /** Offset on the one-partition input topic: the position in the corpus. */
  readonly offset: number
  readonly key: string | null
  readonly value: Buffer | null
  /** Good records are written, always. */
  readonly good: boolean
  readonly hostile?: HostileCase<O>
}

/** Printable ASCII that does not compress (a seeded xorshift), so a sink stores every byte of it. */
export const incompressibleText = (length: number, seed: number): string => {
  let x = (seed * 2_654_435_761) >>> 0 || 1
  let out = ""
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out += String.fromCharCode(33 + (x % 94))
  }
  return out
}

const nested = (depth: number): Raw => raw(`${"[".repeat(depth)}${"]".repeat(depth)}`)
const zeros = (count: number): Raw => raw(`[${Array.from({ length: count }, () => "0").join(",")}]`)

/** The second wrong type of a field: a JSON type it does not accept (`true` is the first, for all). */
const wrongType = (types: FieldSpec<Outcome>["types"]): unknown =>
  !types.includes("number") ? 12_345 : !types.includes("string") ? "12" : {}

interface Draft<O extends Outcome> {
  readonly label: string
  readonly outcome: O
  /** The record value from a good one (`n` and its event time), raw bytes or a JSON value. */
  readonly build: (good: Record<string, unknown>, n: number) => Buffer | null | Record<string, unknown> | Raw
  readonly nullKey?: boolean
  readonly tooLargeToDeadLetter?: boolean
  readonly shadowed?: (n: number) => unknown
}

/** The cases that concern the whole record, the same for every pipeline but for what valid input becomes. */
const recordCases = <O extends Outcome>(spec: CorpusSpec<O>): Array<Draft<O>> => {
  const dead = spec.deadLettered
  const id = spec.idField
  const text = (g: Record<string, unknown>) => JSON.stringify(g)
  // The id of a good record never produced on its own: it must not show up in the sink.
  const decoy = (n: number): unknown => spec.good(1_000_000 + n, 0)[id]
  const firstOther = spec.fields.find((f) => f.name !== id)!
  return [
    // not JSON
    { label: "not JSON: cut in the middle", outcome: dead, build: (g) => Buffer.from(text(g).slice(0, 25)) },
    { label: "not JSON: trailing garbage", outcome: dead, build: (g) => Buffer.from(`${text(g)} }`) },
    { label: "not JSON: NaN literal", outcome: dead, build: () => Buffer.from("NaN") },
    { label: "not JSON: UTF-8 byte-order mark", outcome: dead, build: (g) => Buffer.from(`\ufeff${text(g)}`) },
    { label: "not JSON: NUL byte between tokens", outcome: dead, build: (g) => Buffer.from(`\u0000${text(g)}`) },
    { label: "empty value (no bytes)", outcome: dead, build: () => Buffer.alloc(0) },
    { label: "whitespace only", outcome: dead, build: () => Buffer.from(" \n\t ") },
    { label: "tombstone (null value)", outcome: dead, build: () => null },
    // JSON, but no record
    { label: "JSON null", outcome: dead, build: () => Buffer.from("null") },
    { label: "JSON array holding a good record", outcome: dead, build: (g) => Buffer.from(`[${text(g)}]`) },
    { label: "JSON string", outcome: dead, build: () => Buffer.from("\"a record\"") },
    { label: "JSON number 1e400", outcome: dead, build: () => Buffer.from("1e400") },
    // bytes that are not UTF-8, inside the id string
    ...(
      [
        ["0xFF", [0xff]],
        ["a lone continuation byte", [0x80]],
        ["an overlong '/'", [0xc0, 0xaf]],
        ["a UTF-8-encoded surrogate (CESU)", [0xed, 0xa0, 0x80]],
        ["a cut multi-byte sequence", [0xe2, 0x82]]
      ] as const
    ).map(([what, bytes]): Draft<O> => ({
      label: `not UTF-8: ${what} in ${id}`,
      outcome: dead,
      build: (g) => ({ ...g, [id]: stringWithBytes(String(g[id]), bytes) })
    })),
    // shapes
    { label: "deeply nested arrays (100k levels)", outcome: dead, build: () => nested(100_000) },
    { label: "huge array (200k numbers)", outcome: dead, build: () => zeros(200_000) },
    { label: "extra field: nested 10k levels", outcome: spec.written, build: (g) => ({ ...g, extra: nested(10_000) }) },
    {
      label: "extra field: array of 100k numbers",
      outcome: spec.written,
      build: (g) => ({ ...g, extra: zeros(100_000) })
    },
    {
      label: "extra fields named \"\", \"null\", \"__proto__\", \"constructor\"",
      outcome: spec.written,
      build: (g) => raw(`{"":1,"null":null,"__proto__":{"polluted":true},"constructor":"x",${text(g).slice(1)}`)
    },
    // duplicate keys: JSON.parse (like most parsers) keeps the last
    {
      label: `duplicate ${id}: another valid id first, this record's last`,
      outcome: spec.written,
      build: (g, n) => raw(`{${JSON.stringify(id)}:${JSON.stringify(decoy(n))},${text(g).slice(1)}`),
      shadowed: decoy
    },
    {
      label: `duplicate ${firstOther.name}: wrong type first, valid last`,
      outcome: spec.written,
      build: (g) => raw(`{${JSON.stringify(firstOther.name)}:true,${text(g).slice(1)}`)
    },
    {
      label: `duplicate ${firstOther.name}: valid first, wrong type last`,
      outcome: dead,
      build: (g) => raw(`${text(g).slice(0, -1)},${JSON.stringify(firstOther.name)}:true}`)
    },
    { label: "null Kafka key", outcome: spec.written, build: (g) => g, nullKey: true },
    // larger than the dead-letter topic's 1 MiB limit once headers are added (the input topic takes 8 MiB)
    {
      label: "1.5 MB of not-JSON: too large to dead-letter whole",
      outcome: dead,
      build: (g) => Buffer.from(`${text(g).slice(0, -1)},"x":"${incompressibleText(1_500_000, 7)}"`),
      tooLargeToDeadLetter: true
    }
  ]
}

const fieldCases = <O extends Outcome>(spec: CorpusSpec<O>, field: FieldSpec<O>): Array<Draft<O>> => {
  const dead = spec.deadLettered
  const name = field.name
  const stated = (what: keyof FieldOutcomes<O>): O => {
    const outcome = field.outcomes[what]
    if (outcome === undefined) throw new Error(`field ${name}: state the outcome of "${String(what)}"`)
    return outcome
  }
  const set = (value: unknown) => (g: Record<string, unknown>) => ({ ...g, [name]: value })
  const drafts: Array<Draft<O>> = [
    { label: `${name}: true (wrong type)`, outcome: dead, build: set(true) },
    {
      label: `${name}: ${JSON.stringify(wrongType(field.types))} (wrong type)`,
      outcome: dead,
      build: set(wrongType(field.types))
    },
    { label: `${name}: null`, outcome: dead, build: set(null) },
    {
      label: `${name}: missing`,
      outcome: field.outcomes.missing ?? dead,
      build: (g) => Object.fromEntries(Object.entries(g).filter(([k]) => k !== name))
    },
    { label: `${name}: nested 1000 levels`, outcome: dead, build: set(nested(1_000)) },
    { label: `${name}: array of 10k numbers`, outcome: dead, build: set(zeros(10_000)) }
  ]
  if (field.types.includes("string")) {
    const of = (g: Record<string, unknown>) => String(g[name])
    drafts.push(
      { label: `${name}: ""`, outcome: stated("empty"), build: set("") },
      { label: `${name}: NUL inside`, outcome: stated("nul"), build: (g) => ({ ...g, [name]: `${of(g)}\u0000x` }) },
      {
        label: `${name}: lone surrogate`,
        outcome: stated("loneSurrogate"),
        build: (g) => ({ ...g, [name]: `${of(g)}\ud800` })
      },
      {
        label: `${name}: 70 KiB`,
        outcome: stated("oversized"),
        build: (g) => ({ ...g, [name]: `${of(g)}${incompressibleText(70 * 1_024, name.length)}` })
      }
    )
  }
  if (field.types.includes("number")) {
    drafts.push(
      { label: `${name}: 1e400`, outcome: dead, build: set(raw("1e400")) },
      { label: `${name}: -0`, outcome: stated("negativeZero"), build: set(raw("-0")) }
    )
  }
  for (const edge of field.edges ?? []) {
    drafts.push({ label: `${name}: ${edge.label}`, outcome: edge.outcome, build: set(edge.value) })
  }
  return drafts
}

/**
 * The corpus: two good records, then every hostile case followed by a good record. Record `i` (from
 * 0) gets event time `baseTime + i * stepMs`, so the valid ones are in event-time order, and its
 * offset as identity `n` (good records are unique across rounds on one topic).
 */
export const buildCorpus = <O extends Outcome>(
  spec: CorpusSpec<O>,
  options: {
    readonly baseTime: number
    readonly stepMs: number
    /** Where the corpus starts on the input topic (a second round on the same topic). */
    readonly firstOffset?: number
  }
): Array<CorpusEntry<O>> => {
  const drafts = [
    ...recordCases(spec),
    ...spec.fields.flatMap((f) => fieldCases(spec, f)),
    ...(spec.records ?? [])
  ]
  const entries: Array<CorpusEntry<O>> = []
  const first = options.firstOffset ?? 0
  const push = (draft: Draft<O> | undefined) => {
    const offset = first + entries.length
    const good = spec.good(offset, options.baseTime + entries.length * options.stepMs)
    if (draft === undefined) {
      entries.push({ offset, key: spec.key(good), value: jsonBytes(good), good: true })
      return
    }
    const built = draft.build(good, offset)
    const value = built === null || Buffer.isBuffer(built) ? built : jsonBytes(built)
    const key = draft.nullKey === true ? null : spec.key(good)
    entries.push({
      offset,
      key,
      value,
      good: false,
      hostile: {
        label: draft.label,
        key,
        value,
        outcome: draft.outcome,
        ...(draft.tooLargeToDeadLetter === true ? { tooLargeToDeadLetter: true } : {}),
        ...(draft.shadowed === undefined ? {} : { shadowed: draft.shadowed(offset) })
      }
    })
  }
  push(undefined)
  push(undefined)
  for (const draft of drafts) {
    push(draft)
    push(undefined)
  }
  return entries
}

/** The entries a test expects with `outcome` (good ones count as the spec's `written`). */
export const withOutcome = <O extends Outcome>(
  spec: CorpusSpec<O>,
  corpus: ReadonlyArray<CorpusEntry<O>>,
  outcome: O
): Array<CorpusEntry<O>> => corpus.filter((e) => (e.good ? outcome === spec.written : e.hostile!.outcome === outcome))

/** The record value as the pipeline's JSON decoding sees it (duplicate keys: the last wins). */
export const parsed = (entry: CorpusEntry<Outcome>): Record<string, unknown> =>
  JSON.parse(entry.value!.toString("utf8")) as Record<string, unknown>

// ---------------------------------------------------------------------------------------------
// running a corpus through the service

/** The input topic: one partition (offsets follow the corpus), and room for the 1.5 MB record. */
export const produceCorpus = (topic: string, corpus: ReadonlyArray<CorpusEntry<Outcome>>) =>
  Effect.gen(function*() {
    const admin = yield* KafkaAdmin
    yield* admin.createTopics([{ topic, partitions: 1, configs: { "max.message.bytes": String(8 * 1_024 * 1_024) } }])
    const before = Number((yield* admin.topicOffsets(topic))[0]!.high)
    if (before !== corpus[0]!.offset) {
      throw new Error(`${topic} ends at ${before}; the corpus starts at ${corpus[0]!.offset}`)
    }
    const sink = yield* KafkaSink
    // In order, a few at a time, so no request comes near the broker's limits.
    for (let i = 0; i < corpus.length; i += 20) {
      yield* sink.send(corpus.slice(i, i + 20).map((e) => ({ topic, partition: 0, key: e.key, value: e.value })))
    }
    const after = Number((yield* admin.topicOffsets(topic))[0]!.high)
    if (after - before !== corpus.length) throw new Error(`${topic}: ${after - before} records for ${corpus.length}`)
    return { first: before, end: after }
  })

/**
 * `node dist/main.js run <pipeline>` as a real process for the current scope (SIGKILLed when the scope
 * closes, if still running), with its log lines and /metrics followed.
 */
export const serviceProcess = (name: string, pipeline: string, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => startMember(name, pipeline, env)),
    (member) =>
      Effect.promise(async () => {
        await member.kill("SIGKILL")
        member.stopPolling()
      })
  )

/** SIGTERM, then the exit code (0 after a clean shutdown). */
export const stopService = (member: GroupMember) =>
  Effect.promise(async () => {
    await member.kill("SIGTERM")
    return member.service.exited
  })

/**
 * Polls `check` every 200 ms until it holds; fails at once when the service has exited (with its
 * output), or after `timeoutMs`.
 */
export const until = <E, R>(
  service: GroupMember,
  what: string,
  check: Effect.Effect<boolean, E, R>,
  timeoutMs = 40_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (!service.alive()) {
        return yield* Effect.die(
          new Error(`the service exited while waiting for ${what}:\n${service.service.output()}`)
        )
      }
      if (yield* check) return
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what}:\n${service.service.output().slice(-4_000)}`))
      }
      yield* Effect.sleep("200 millis")
    }
  })

/** The group's committed offset and metadata on the one-partition input topic. */
export const committedOn = (groupId: string, topic: string) =>
  Effect.map(
    Effect.flatMap(KafkaAdmin, (admin) => admin.committedOffsets(groupId, topic)),
    (cs) => ({ offset: Number(cs[0]?.offset ?? 0), metadata: cs[0]?.metadata })
  )

/**
 * Whether a windowed job's checkpoint covers every record up to `end`: the commit metadata's end
 * offset (last processed + 1; the committed offset itself stays at the oldest record an open window needs).
 */
export const checkpointReaches = (groupId: string, topic: string, end: number) =>
  Effect.map(committedOn(groupId, topic), (c) => {
    if (c.metadata === undefined || c.metadata.length === 0) return false
    return (JSON.parse(c.metadata) as { e?: number }).e === end
  })

/** Every record on a topic (its end offset read first, so the read is complete). */
export const wholeTopic = (topic: string) =>
  Effect.gen(function*() {
    const admin = yield* KafkaAdmin
    yield* admin.createTopics([{ topic, partitions: 1 }])
    const end = (yield* admin.topicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0)
    const records = yield* readTopic(topic, (rs) => rs.length >= end, "30 seconds")
    if (records.length < end) throw new Error(`${topic}: read ${records.length} of ${end} records`)
    return records
  })

export interface DeadLetterCheck {
  /** The records expected here (by their offset on the input topic), each exactly once. */
  readonly expected: ReadonlyArray<CorpusEntry<Outcome>>
  /** Only dead letters with this `tributary.pipeline` header (a pipeline with several jobs). */
  readonly pipeline?: string
  /** The whole corpus, to name unexpected dead letters by their case. */
  readonly corpus: ReadonlyArray<CorpusEntry<Outcome>>
}

/**
 * Checks dead letters against the corpus: exactly the expected source offsets, each once, each with a
 * non-empty reason and the original key and value (a flagged 1 KiB prefix for one too large to
 * dead-letter whole). Returns the reasons by offset (for a test's own checks).
 */
export const checkDeadLetters = (
  deadLetters: ReadonlyArray<KafkaRecord>,
  sourceTopic: string,
  check: DeadLetterCheck
): Map<number, string> => {
  const mine = deadLetters.filter((r) =>
    check.pipeline === undefined || headerString(r, DeadLetterHeaders.pipeline) === check.pipeline
  )
  const reasons = new Map<number, string>()
  const problems: Array<string> = []
  const byOffset = new Map(check.expected.map((e) => [e.offset, e]))
  const anyByOffset = new Map(check.corpus.map((e) => [e.offset, e]))
  for (const r of mine) {
    const offset = Number(headerString(r, DeadLetterHeaders.offset))
    const reason = headerString(r, DeadLetterHeaders.reason) ?? ""
    const entry = byOffset.get(offset)
    const any = anyByOffset.get(offset)
    const label = any?.hostile?.label ?? (any?.good === true ? "a GOOD record" : "not in the corpus")
    if (headerString(r, DeadLetterHeaders.topic) !== sourceTopic) problems.push(`${offset}: source topic header`)
    if (reasons.has(offset)) problems.push(`${offset} (${label}) dead-lettered twice`)
    reasons.set(offset, reason)
    if (entry === undefined || entry.good) {
      problems.push(`${offset} (${label}) dead-lettered, not expected: ${reason}`)
      continue
    }
    if (reason.trim().length === 0) problems.push(`${offset} (${label}): empty reason`)
    const truncated = headerString(r, DeadLetterHeaders.truncated)
    if (entry.hostile?.tooLargeToDeadLetter === true) {
      if (truncated !== String(entry.value!.length)) {
        problems.push(`${offset} (${label}): truncated header ${truncated}`)
      }
      if (!r.value?.equals(entry.value!.subarray(0, r.value.length)) || r.value.length > 1_024) {
        problems.push(`${offset} (${label}): not a prefix of at most 1 KiB`)
      }
    } else {
      if (truncated !== undefined) problems.push(`${offset} (${label}): flagged as truncated`)
      const same = entry.value === null ? r.value === null : r.value?.equals(entry.value) === true
      if (!same) problems.push(`${offset} (${label}): value differs from the original`)
      if ((r.key?.toString() ?? null) !== entry.key) problems.push(`${offset} (${label}): key differs`)
    }
  }
  for (const e of check.expected) {
    if (!reasons.has(e.offset)) problems.push(`${e.offset} (${e.hostile?.label ?? "good"}) not dead-lettered`)
  }
  if (problems.length > 0) {
    throw new Error(`dead letters${check.pipeline ? ` of ${check.pipeline}` : ""}:\n${problems.join("\n")}`)
  }
  return reasons
}
