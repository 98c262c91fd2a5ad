import { Context, Data, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import type { SearchAuth, SearchSettings } from "../../config/EcommerceConfig.ts"
import { type EcommerceRow, formatCents } from "../../domain/EcommerceTransaction.ts"
import { ItemsRejected } from "../../domain/ItemsRejected.ts"

export class SearchError extends Data.TaggedError("SearchError")<{
  readonly operation: string
  readonly message: string
  /** HTTP status when the engine answered; undefined for transport failures and timeouts. */
  readonly status?: number | undefined
  readonly cause?: unknown
}> {}

/** A document and its deterministic id: indexing it again overwrites it, so replays are harmless. */
export interface SearchDocument {
  readonly id: string
  readonly source: Record<string, unknown>
}

/** The indexed form of a transaction: the seed's field names, money as decimal numbers, UTC ISO time. */
export const transactionDocument = (r: EcommerceRow): SearchDocument => ({
  id: r.transactionId,
  source: {
    transactionId: r.transactionId,
    productId: r.productId,
    productName: r.productName,
    productCategory: r.productCategory,
    // Via the exact decimal text: 1998 cents is 19.98, not 19.980000000000000426.
    productPrice: Number(formatCents(r.productPriceCents)),
    productQuantity: r.productQuantity,
    totalAmount: Number(formatCents(r.totalAmountCents)),
    productBrand: r.productBrand,
    currency: r.currency,
    customerId: r.customerId,
    transactionDate: new Date(r.transactionTime).toISOString(),
    paymentMethod: r.paymentMethod,
    paymentStatus: r.paymentStatus
  }
})

/**
 * Mappings for the transactions index, so dashboards (Kibana, OpenSearch Dashboards) can chart it:
 * dates as `date`, money as `scaled_float` (stored as exact cents), ids and categories as `keyword`.
 * `_index_template` is understood by Elasticsearch 7.8+/8/9 and OpenSearch 1/2.
 */
export const transactionsIndexTemplate = (index: string) => ({
  index_patterns: [index],
  priority: 200,
  template: {
    mappings: {
      properties: {
        transactionId: { type: "keyword" },
        productId: { type: "keyword" },
        productName: { type: "text", fields: { raw: { type: "keyword", ignore_above: 256 } } },
        productCategory: { type: "keyword" },
        productPrice: { type: "scaled_float", scaling_factor: 100 },
        productQuantity: { type: "integer" },
        totalAmount: { type: "scaled_float", scaling_factor: 100 },
        productBrand: { type: "keyword" },
        currency: { type: "keyword" },
        customerId: { type: "keyword" },
        transactionDate: { type: "date", format: "strict_date_optional_time||epoch_millis" },
        paymentMethod: { type: "keyword" },
        paymentStatus: { type: "keyword" }
      }
    }
  }
})

const BulkItem = Schema.Struct({
  _id: Schema.optional(Schema.String),
  status: Schema.Number,
  error: Schema.optional(Schema.Unknown)
})
const BulkResponse = Schema.Struct({
  errors: Schema.Boolean,
  items: Schema.Array(Schema.Record(Schema.String, BulkItem))
})
const decodeBulkResponse = Schema.decodeUnknownResult(BulkResponse)

/** Documents of a bulk request that the engine rejected, with its reason (e.g. 429 queue full). */
export interface RejectedItem {
  readonly document: SearchDocument
  readonly status: number
  readonly reason: string
}

const reasonOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const e = error as { type?: unknown; reason?: unknown }
    return `${String(e.type ?? "error")}: ${String(e.reason ?? "")}`
  }
  return String(error)
}

/** Pure: the rejected documents of a parsed `_bulk` answer (items come back in request order). */
export const rejectedItems = (
  documents: ReadonlyArray<SearchDocument>,
  body: unknown
): Array<RejectedItem> | SearchError => {
  const decoded = decodeBulkResponse(body)
  if (decoded._tag === "Failure") {
    return new SearchError({ operation: "bulk", message: `unexpected _bulk answer: ${decoded.failure.message}` })
  }
  const response = decoded.success
  if (!response.errors) return []
  if (response.items.length !== documents.length) {
    return new SearchError({
      operation: "bulk",
      message: `_bulk answered ${response.items.length} items for ${documents.length} documents`
    })
  }
  const rejected: Array<RejectedItem> = []
  response.items.forEach((item, i) => {
    const result = Object.values(item)[0]
    if (result !== undefined && (result.status >= 300 || result.error !== undefined)) {
      rejected.push({ document: documents[i]!, status: result.status, reason: reasonOf(result.error) })
    }
  })
  return rejected
}

/** NDJSON body of a `_bulk` request: `index` actions (create or overwrite) with explicit ids. */
export const bulkBody = (index: string, documents: ReadonlyArray<SearchDocument>): string => {
  const lines: Array<string> = []
  for (const d of documents) {
    lines.push(JSON.stringify({ index: { _index: index, _id: d.id } }), JSON.stringify(d.source))
  }
  return lines.join("\n") + "\n"
}

/** Backoff between re-sends of rejected items: 200 ms growing to 5 s. */
/** Overload (429), timeouts and server errors pass later; other 4xx mean the document itself is refused. */
const itemMayPassLater = (status: number): boolean => status === 429 || status === 408 || status >= 500 || status < 400

const itemRetryDelay = (attempt: number): Duration.Duration =>
  Duration.millis(Math.min(5_000, 200 * Math.pow(1.5, Math.max(0, attempt - 1))))

/** The request with the credentials of `auth` (none, basic, or an API key). */
const authorize = (auth: SearchAuth, request: HttpClientRequest.HttpClientRequest) => {
  switch (auth._tag) {
    case "None":
      return request
    case "Basic":
      return HttpClientRequest.basicAuth(request, auth.username, auth.password)
    case "ApiKey":
      return HttpClientRequest.setHeader(request, "authorization", `ApiKey ${Redacted.value(auth.apiKey)}`)
  }
}

/** A non-2xx answer (the body cut to 500 characters). */
const failure = (operation: string, status: number, text: string) =>
  new SearchError({ operation, status, message: `HTTP ${status}: ${text.slice(0, 500)}` })

/**
 * Indexes documents into Elasticsearch 8/9 or OpenSearch 2.x through the `_bulk` API over plain HTTP.
 * Items the engine rejects (`errors: true`, e.g. 429 when its write queue is full) are sent again with
 * backoff until every one is acknowledged: nothing is skipped. Transport failures, timeouts and
 * non-2xx answers fail with `SearchError` for the caller to retry (every document is idempotent).
 */
export class SearchIndexer extends Context.Service<SearchIndexer, {
  /** Puts the index template and creates the index if missing (idempotent). */
  readonly ensureIndex: Effect.Effect<void, SearchError>
  /** Succeeds once every document is acknowledged by the engine. */
  /** Documents the engine refuses for good fail the call as ItemsRejected (by position); the others are stored. */
  readonly index: (documents: ReadonlyArray<SearchDocument>) => Effect.Effect<void, SearchError | ItemsRejected>
}>()("tributary/sinks/search/SearchIndexer") {
  /** Over an index in process memory (pass one to inspect it). */
  static readonly layerInMemory = (
    index: InMemorySearchIndex = new InMemorySearchIndex()
  ): Layer.Layer<SearchIndexer> => index.layer()

  /** Needs an HttpClient (e.g. NodeHttpClient.layerUndici). */
  static readonly layer = (settings: SearchSettings) =>
    Layer.effect(
      SearchIndexer,
      Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const client = http.pipe(
          HttpClient.mapRequest((r) =>
            authorize(settings.auth, HttpClientRequest.acceptJson(HttpClientRequest.prependUrl(r, settings.url)))
          )
        )

        /** Sends a request; answers with (status, JSON body). A hung engine (e.g. stopped JVM) times out. */
        const send = (operation: string, request: HttpClientRequest.HttpClientRequest) =>
          client.execute(request).pipe(
            Effect.flatMap((response: HttpClientResponse.HttpClientResponse) =>
              Effect.map(response.text, (text) => ({ status: response.status, text }))
            ),
            Effect.timeoutOrElse({
              duration: Duration.millis(settings.requestTimeoutMs),
              orElse: () =>
                Effect.fail(new SearchError({ operation, message: `no answer within ${settings.requestTimeoutMs} ms` }))
            }),
            Effect.mapError((cause) =>
              cause instanceof SearchError ? cause : new SearchError({ operation, message: cause.message, cause })
            ),
            Effect.map(({ status, text }) => {
              let body: unknown = undefined
              try {
                body = text.length === 0 ? undefined : JSON.parse(text)
              } catch {
                body = text
              }
              return { status, body, text }
            })
          )

        const ensureIndex = Effect.gen(function*() {
          const templateName = `${settings.index}-template`
          const put = yield* send(
            "put index template",
            HttpClientRequest.put(`/_index_template/${encodeURIComponent(templateName)}`).pipe(
              HttpClientRequest.bodyJsonUnsafe(transactionsIndexTemplate(settings.index))
            )
          )
          if (put.status >= 300) return yield* failure("put index template", put.status, put.text)
          const create = yield* send("create index", HttpClientRequest.put(`/${encodeURIComponent(settings.index)}`))
          // 400 resource_already_exists_exception: created earlier (or by a concurrent start).
          if (create.status >= 300 && !create.text.includes("resource_already_exists_exception")) {
            return yield* failure("create index", create.status, create.text)
          }
          yield* Effect.logInfo(`search index ${settings.index} ready at ${settings.url}`)
        })

        const bulkOnce = (documents: ReadonlyArray<SearchDocument>) =>
          Effect.gen(function*() {
            const answer = yield* send(
              "bulk",
              HttpClientRequest.post("/_bulk").pipe(
                HttpClientRequest.bodyText(bulkBody(settings.index, documents), "application/x-ndjson")
              )
            )
            if (answer.status >= 300) return yield* failure("bulk", answer.status, answer.text)
            const rejected = rejectedItems(documents, answer.body)
            if (rejected instanceof SearchError) return yield* rejected
            return rejected
          })

        /** Sends a chunk until every item is stored or refused for good; returns the refused ones. */
        const indexChunk = (documents: ReadonlyArray<SearchDocument>) =>
          Effect.gen(function*() {
            let pending = documents
            const refused: Array<RejectedItem> = []
            for (let attempt = 1;; attempt++) {
              const rejected = yield* bulkOnce(pending)
              for (const r of rejected) if (!itemMayPassLater(r.status)) refused.push(r)
              const retry = rejected.filter((r) => itemMayPassLater(r.status))
              if (retry.length === 0) return refused
              const first = retry[0]!
              yield* Effect.logWarning(
                `${retry.length} of ${pending.length} document(s) rejected (first: HTTP ${first.status} ${first.reason}); ` +
                  `sending them again (attempt ${attempt + 1})`
              )
              yield* Effect.sleep(itemRetryDelay(attempt))
              pending = retry.map((r) => r.document)
            }
          })

        // Documents the engine refuses for good (a mapping error: the document is at fault) are named to
        // the caller by position; the others are stored (documents upsert by id, so a rewrite is harmless).
        const index = (documents: ReadonlyArray<SearchDocument>) =>
          Effect.gen(function*() {
            const refused: Array<{ index: number; reason: string }> = []
            for (let i = 0; i < documents.length; i += settings.bulkMaxDocs) {
              const chunk = documents.slice(i, i + settings.bulkMaxDocs)
              for (const r of yield* indexChunk(chunk)) {
                refused.push({ index: i + chunk.indexOf(r.document), reason: `HTTP ${r.status} ${r.reason}` })
              }
            }
            if (refused.length > 0) return yield* new ItemsRejected({ items: refused })
          })

        return SearchIndexer.of({ ensureIndex, index })
      })
    )
}

/**
 * An index in process memory with the engine's observable behaviour (documents by id, overwritten
 * on re-index) and failure injection: unit tests and the embedded demo.
 */
export class InMemorySearchIndex {
  readonly documents = new Map<string, Record<string, unknown>>()
  /** Bulk requests seen (each a list of ids), including rejected attempts. */
  readonly requests: Array<ReadonlyArray<string>> = []
  /** The next N requests fail as if the engine were unreachable. */
  failNextRequests = 0
  /** Ids rejected once each (as a 429 item in an `errors: true` answer), then accepted. */
  readonly rejectOnce = new Set<string>()

  bulk(documents: ReadonlyArray<SearchDocument>): Array<RejectedItem> {
    this.requests.push(documents.map((d) => d.id))
    if (this.failNextRequests > 0) {
      this.failNextRequests--
      throw new Error("simulated search engine outage")
    }
    const rejected: Array<RejectedItem> = []
    for (const d of documents) {
      if (this.rejectOnce.delete(d.id)) {
        rejected.push({ document: d, status: 429, reason: "es_rejected_execution_exception: queue full" })
      } else {
        this.documents.set(d.id, d.source)
      }
    }
    return rejected
  }

  /** SearchIndexer over this index. */
  layer(): Layer.Layer<SearchIndexer> {
    const index = (documents: ReadonlyArray<SearchDocument>): Effect.Effect<void, SearchError> =>
      Effect.gen({ self: this }, function*() {
        let pending = documents
        while (pending.length > 0) {
          const current = pending
          const rejected = yield* Effect.try({
            try: () => this.bulk(current),
            catch: (cause) => new SearchError({ operation: "bulk", message: String(cause), cause })
          })
          pending = rejected.map((r) => r.document)
        }
      })
    return Layer.succeed(SearchIndexer, SearchIndexer.of({ ensureIndex: Effect.void, index }))
  }
}
