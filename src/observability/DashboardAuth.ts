import { Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

/**
 * Who may read what on the observability server when DASHBOARD_TOKEN is set. Deny by default: only the
 * probes and Prometheus (`/metrics`, `/healthz`, `/readyz`, exactly these paths) stay open; everything
 * else (the dashboard at `/`, `/api/*`, unknown paths) needs `Authorization: Bearer <token>`. The
 * dashboard page alone also takes the token once as `?token=` (its script keeps it for its API calls).
 */

/** Paths anyone may read: Kubernetes probes and Prometheus scrapes carry no token. */
export const openPaths: ReadonlySet<string> = new Set(["/metrics", "/healthz", "/readyz"])

/** The raw path of a request target (`/api/status?x=1` → `/api/status`), not normalised: `/metrics/` is not open. */
const pathOf = (url: string): string => url.split(/[?#]/, 1)[0]!

/** The `?token=` of a request target, if any. */
const queryToken = (url: string): string | undefined => {
  const q = url.indexOf("?")
  if (q < 0) return undefined
  return new URLSearchParams(url.slice(q + 1).split("#", 1)[0]).get("token") ?? undefined
}

/** The token of an `Authorization: Bearer <token>` header (scheme in any case). */
export const bearerToken = (header: string | undefined): string | undefined => {
  const m = header === undefined ? null : /^\s*bearer\s+(\S+)\s*$/i.exec(header)
  return m === null ? undefined : m[1]
}

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest()

/**
 * Compares a presented token with the expected one in constant time: both are hashed to 32 bytes first,
 * so neither the content nor the length of the expected token shows in the time taken.
 */
export const tokenMatches = (presented: string, expected: Redacted.Redacted<string>): boolean =>
  timingSafeEqual(digest(presented), digest(Redacted.value(expected)))

/** Whether a request may be answered: no token configured, an open path, or the right token. */
export const isAuthorized = (
  token: Option.Option<Redacted.Redacted<string>>,
  request: { readonly url: string; readonly headers: Readonly<Record<string, string | undefined>> }
): boolean => {
  if (Option.isNone(token)) return true
  const path = pathOf(request.url)
  if (openPaths.has(path)) return true
  const presented = bearerToken(request.headers["authorization"]) ??
    (path === "/" ? queryToken(request.url) : undefined)
  return presented !== undefined && tokenMatches(presented, token.value)
}
