import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { type SearchSettings, searchSettings } from "../../src/config/EcommerceConfig.ts"
import { bulkBody, rejectedItems, SearchError, SearchIndexer } from "../../src/sinks/search/SearchIndexer.ts"
import { settingsFrom } from "../support/TestSettings.ts"

interface Seen {
  readonly method: string
  readonly url: string
  readonly authorization: string | undefined
  readonly contentType: string | undefined
  readonly body: string
}

/** An HttpClient answering from `respond`, recording every request. */
const fakeHttp = (respond: (req: Seen, n: number) => { status: number; body: unknown }) => {
  const seen: Array<Seen> = []
  const client = HttpClient.make((request, url) =>
    Effect.sync(() => {
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      const req: Seen = {
        method: request.method,
        url: url.toString(),
        authorization: request.headers["authorization"],
        contentType: request.body._tag === "Uint8Array" ? request.body.contentType : undefined,
        body
      }
      seen.push(req)
      const answer = respond(req, seen.length)
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(answer.body), {
          status: answer.status,
          headers: { "content-type": "application/json" }
        })
      )
    })
  )
  return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const settings = (overrides: Partial<SearchSettings> = {}): SearchSettings =>
  settingsFrom(searchSettings, {
    SEARCH_URL: "http://search.test:9200",
    SEARCH_INDEX: "transactions",
    SEARCH_BULK_MAX_DOCS: 3,
    SEARCH_REQUEST_TIMEOUT_MS: 1_000
  }, overrides)

const docs = Array.from(
  { length: 5 },
  (_, i) => ({ id: `id-${i}`, source: { transactionId: `id-${i}`, totalAmount: i } })
)

const bulkIds = (body: string) =>
  body.trim().split("\n").filter((_, i) => i % 2 === 0).map((l) =>
    (JSON.parse(l) as { index: { _id: string } }).index._id
  )

describe("SearchIndexer (_bulk over HTTP)", () => {
  it("writes index actions with the transaction id as _id, as NDJSON", () => {
    assert.strictEqual(
      bulkBody("tx", docs.slice(0, 1)),
      `{"index":{"_index":"tx","_id":"id-0"}}\n{"transactionId":"id-0","totalAmount":0}\n`
    )
  })

  it("finds the rejected items of an errors:true answer by position", () => {
    const answer = {
      errors: true,
      items: [
        { index: { _id: "id-0", status: 201 } },
        {
          index: { _id: "id-1", status: 429, error: { type: "es_rejected_execution_exception", reason: "queue full" } }
        },
        { index: { _id: "id-2", status: 200 } }
      ]
    }
    const rejected = rejectedItems(docs.slice(0, 3), answer)
    assert.deepStrictEqual(
      Array.isArray(rejected) ? rejected.map((r) => [r.document.id, r.status, r.reason]) : rejected,
      [["id-1", 429, "es_rejected_execution_exception: queue full"]]
    )
    assert.deepStrictEqual(rejectedItems(docs.slice(0, 1), { errors: false, items: [] }), [])
    assert.instanceOf(rejectedItems(docs.slice(0, 2), { errors: true, items: [] }), SearchError)
    assert.instanceOf(rejectedItems(docs, { nope: 1 }), SearchError)
  })

  it.live("splits into bulks of bulkMaxDocs and sends rejected items again until all are acknowledged", () => {
    let rejectedOnce = false
    const http = fakeHttp((req) => {
      const ids = bulkIds(req.body)
      // The first bulk rejects its 2nd document once.
      if (!rejectedOnce && ids.includes("id-1")) {
        rejectedOnce = true
        return {
          status: 200,
          body: {
            errors: true,
            items: ids.map((id) => ({
              index: id === "id-1" ? { _id: id, status: 429, error: { type: "x" } } : { _id: id, status: 201 }
            }))
          }
        }
      }
      return { status: 200, body: { errors: false, items: ids.map((id) => ({ index: { _id: id, status: 201 } })) } }
    })
    return Effect.gen(function*() {
      yield* (yield* SearchIndexer).index(docs)
      assert.deepStrictEqual(http.seen.map((r) => bulkIds(r.body)), [["id-0", "id-1", "id-2"], ["id-1"], [
        "id-3",
        "id-4"
      ]])
      for (const r of http.seen) {
        assert.strictEqual(r.method, "POST")
        assert.strictEqual(r.url, "http://search.test:9200/_bulk")
        assert.strictEqual(r.contentType, "application/x-ndjson")
        assert.isUndefined(r.authorization)
      }
    }).pipe(Effect.provide(SearchIndexer.layer(settings()).pipe(Layer.provide(http.layer))))
  })

  it.effect("a document the engine refuses for good (400) is named by position and not sent again", () => {
    const http = fakeHttp((req) => {
      const ids = bulkIds(req.body)
      return {
        status: 200,
        body: {
          errors: ids.includes("id-3"),
          items: ids.map((id) => ({
            index: id === "id-3"
              ? { _id: id, status: 400, error: { type: "mapper_parsing_exception", reason: "failed to parse" } }
              : { _id: id, status: 201 }
          }))
        }
      }
    })
    return Effect.gen(function*() {
      const error = yield* Effect.flip((yield* SearchIndexer).index(docs))
      if (error._tag !== "ItemsRejected") return assert.fail(`expected ItemsRejected, got ${error._tag}`)
      assert.deepStrictEqual(error.items.map((i) => i.index), [3])
      assert.include(error.items[0]!.reason, "mapper_parsing_exception")
      // Two bulks of bulkMaxDocs, each sent once: a refused document is not retried.
      assert.strictEqual(http.seen.length, 2)
    }).pipe(Effect.provide(SearchIndexer.layer(settings()).pipe(Layer.provide(http.layer))))
  })

  it.effect("fails with SearchError on a non-2xx answer (the pipeline retries the whole bulk)", () => {
    const http = fakeHttp(() => ({ status: 503, body: { error: "unavailable" } }))
    return Effect.gen(function*() {
      const error = yield* Effect.flip((yield* SearchIndexer).index(docs))
      if (error._tag !== "SearchError") return assert.fail(`expected a SearchError, got ${error._tag}`)
      assert.strictEqual(error.status, 503)
      assert.match(error.message, /HTTP 503/)
    }).pipe(Effect.provide(SearchIndexer.layer(settings()).pipe(Layer.provide(http.layer))))
  })

  it.effect("puts the index template (date, scaled_float, keyword) and tolerates an existing index", () => {
    const http = fakeHttp((req) =>
      req.url.includes("_index_template")
        ? { status: 200, body: { acknowledged: true } }
        : { status: 400, body: { error: { type: "resource_already_exists_exception" } } }
    )
    return Effect.gen(function*() {
      yield* (yield* SearchIndexer).ensureIndex
      const [template, create] = http.seen
      assert.strictEqual(template!.url, "http://search.test:9200/_index_template/transactions-template")
      const mappings = (JSON.parse(template!.body) as {
        template: { mappings: { properties: Record<string, { type: string }> } }
      }).template.mappings.properties
      assert.strictEqual(mappings["transactionDate"]!.type, "date")
      assert.strictEqual(mappings["totalAmount"]!.type, "scaled_float")
      assert.strictEqual(mappings["productCategory"]!.type, "keyword")
      assert.strictEqual(create!.method, "PUT")
      assert.strictEqual(create!.url, "http://search.test:9200/transactions")
    }).pipe(Effect.provide(SearchIndexer.layer(settings()).pipe(Layer.provide(http.layer))))
  })

  it.effect("sends basic auth or an API key", () => {
    const ok = () => ({ status: 200, body: { errors: false, items: [{ index: { _id: "id-0", status: 201 } }] } })
    const basic = fakeHttp(ok)
    const apiKey = fakeHttp(ok)
    return Effect.gen(function*() {
      yield* Effect.flatMap(SearchIndexer, (s) => s.index(docs.slice(0, 1))).pipe(
        Effect.provide(
          SearchIndexer.layer(settings({
            auth: { _tag: "Basic", username: "elastic", password: Redacted.make("s3cret") }
          })).pipe(Layer.provide(basic.layer))
        )
      )
      yield* Effect.flatMap(SearchIndexer, (s) => s.index(docs.slice(0, 1))).pipe(
        Effect.provide(
          SearchIndexer.layer(settings({ auth: { _tag: "ApiKey", apiKey: Redacted.make("a2V5") } })).pipe(
            Layer.provide(apiKey.layer)
          )
        )
      )
      assert.strictEqual(basic.seen[0]!.authorization, `Basic ${Buffer.from("elastic:s3cret").toString("base64")}`)
      assert.strictEqual(apiKey.seen[0]!.authorization, "ApiKey a2V5")
    })
  })
})
