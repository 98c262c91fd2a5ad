import { randomUUID } from "node:crypto"
import { ensureStarted, scriptPid } from "./LocalService.ts"

/** Base URL of the local node (scripts/opensearch.sh), or TRIBUTARY_TEST_SEARCH_URL (any ES 8/9 or OpenSearch 2). */
export const searchUrl = (): string =>
  process.env["TRIBUTARY_TEST_SEARCH_URL"] ?? `http://127.0.0.1:${process.env["TRIBUTARY_OPENSEARCH_PORT"] ?? "19200"}`

const healthy = async (url: string): Promise<boolean> => {
  try {
    const response = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=2s`, {
      signal: AbortSignal.timeout(5_000)
    })
    return response.ok
  } catch {
    return false
  }
}

/**
 * For integration tests' `beforeAll`: finds the local search engine, starting OpenSearch with the
 * project's script when it does not answer (about 15 s). Throws when it cannot be started: these
 * tests are never skipped.
 */
export const ensureOpenSearch = async (): Promise<string> => {
  const url = searchUrl()
  await ensureStarted({
    script: "opensearch",
    reachable: await healthy(url),
    notFound: `no search engine at ${url}; starting OpenSearch with scripts/opensearch.sh`,
    what: "the OpenSearch node"
  })
  return url
}

/** The JVM pid of the node scripts/opensearch.sh started (for pausing it); throws when there is none. */
export const openSearchPid = (): number => scriptPid("opensearch")

/** An index name no other test (or earlier run) uses (lower case, as index names must be). */
export const uniqueIndex = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`

/** Makes everything indexed so far searchable, then counts the documents. */
export const countDocuments = async (url: string, index: string): Promise<number> => {
  await fetch(`${url}/${index}/_refresh`, { method: "POST" })
  const response = await fetch(`${url}/${index}/_count`)
  if (!response.ok) throw new Error(`_count on ${index}: HTTP ${response.status} ${await response.text()}`)
  return ((await response.json()) as { count: number }).count
}

/** Every document of an index (scrolls with search_after on _id-sorted pages). */
export const allDocuments = async (url: string, index: string): Promise<Map<string, Record<string, unknown>>> => {
  await fetch(`${url}/${index}/_refresh`, { method: "POST" })
  const out = new Map<string, Record<string, unknown>>()
  let after: ReadonlyArray<unknown> | undefined
  for (;;) {
    const response = await fetch(`${url}/${index}/_search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        size: 5_000,
        sort: [{ transactionId: "asc" }],
        ...(after === undefined ? {} : { search_after: after })
      })
    })
    if (!response.ok) throw new Error(`_search on ${index}: HTTP ${response.status} ${await response.text()}`)
    const body = (await response.json()) as {
      hits: { hits: Array<{ _id: string; _source: Record<string, unknown>; sort: Array<unknown> }> }
    }
    const hits = body.hits.hits
    for (const h of hits) out.set(h._id, h._source)
    if (hits.length < 5_000) return out
    after = hits[hits.length - 1]!.sort
  }
}
