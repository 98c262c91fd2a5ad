import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import { observabilitySettings } from "../../src/config/ObservabilityConfig.ts"
import { bearerToken, isAuthorized, tokenMatches } from "../../src/observability/DashboardAuth.ts"

const token = Option.some(Redacted.make("s3cret-t0ken"))
const request = (url: string, authorization?: string) => ({
  url,
  headers: authorization === undefined ? {} : { authorization }
})

describe("dashboard token", () => {
  it("reads the token of a Bearer header, scheme in any case", () => {
    assert.strictEqual(bearerToken("Bearer abc"), "abc")
    assert.strictEqual(bearerToken("bearer   abc  "), "abc")
    assert.isUndefined(bearerToken("Basic abc"))
    assert.isUndefined(bearerToken("Bearer"))
    assert.isUndefined(bearerToken("Bearer a b"))
    assert.isUndefined(bearerToken(undefined))
  })

  it("compares whole tokens: no prefix, suffix, case or empty match", () => {
    const expected = Redacted.make("s3cret-t0ken")
    assert.isTrue(tokenMatches("s3cret-t0ken", expected))
    for (const wrong of ["", "s3cret", "s3cret-t0ken2", "S3CRET-T0KEN", " s3cret-t0ken"]) {
      assert.isFalse(tokenMatches(wrong, expected), wrong)
    }
  })

  it("without DASHBOARD_TOKEN everything is open", () => {
    for (const url of ["/", "/api/status", "/metrics", "/anything"]) {
      assert.isTrue(isAuthorized(Option.none(), request(url)))
    }
  })

  it("with DASHBOARD_TOKEN only /metrics, /healthz and /readyz are open, exactly", () => {
    for (const url of ["/metrics", "/healthz", "/readyz", "/metrics?name=x", "/readyz#x"]) {
      assert.isTrue(isAuthorized(token, request(url)), url)
    }
    for (
      const url of ["/", "/api/status", "/api/", "/api/other", "/metrics/", "//metrics", "/metrics/../api/status", "/x"]
    ) {
      assert.isFalse(isAuthorized(token, request(url)), url)
      assert.isFalse(isAuthorized(token, request(url, "Bearer wrong")), `${url} with a wrong token`)
      assert.isTrue(isAuthorized(token, request(url, "Bearer s3cret-t0ken")), `${url} with the token`)
    }
  })

  it("the page (and only the page) also takes ?token=", () => {
    assert.isTrue(isAuthorized(token, request("/?token=s3cret-t0ken")))
    assert.isTrue(isAuthorized(token, request("/?a=1&token=s3cret-t0ken")))
    assert.isFalse(isAuthorized(token, request("/?token=wrong")))
    assert.isFalse(isAuthorized(token, request("/api/status?token=s3cret-t0ken")))
    assert.isFalse(isAuthorized(token, request("/?token=s3cret-t0ken", "Bearer wrong")), "a wrong header wins")
  })
})

const load = (env: Record<string, string>) =>
  Effect.exit(Effect.provide(observabilitySettings, ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))

describe("observability settings", () => {
  it.effect("defaults: all interfaces (Kubernetes probes), no row previews, no token", () =>
    Effect.gen(function*() {
      const s = yield* Effect.provide(observabilitySettings, ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })))
      assert.strictEqual(s.host, "0.0.0.0")
      assert.strictEqual(s.port, 9464)
      assert.isFalse(s.showRows)
      assert.isTrue(Option.isNone(s.token))
    }))

  it.effect("HTTP_HOST, DASHBOARD_SHOW_ROWS in any case, DASHBOARD_TOKEN redacted", () =>
    Effect.gen(function*() {
      for (
        const [value, expected] of [["true", true], ["TRUE", true], ["True", true], ["false", false], [
          "FALSE",
          false
        ]] as const
      ) {
        const exit = yield* load({ DASHBOARD_SHOW_ROWS: value })
        assert.isTrue(Exit.isSuccess(exit) && exit.value.showRows === expected, value)
      }
      // Read like every boolean of the service (also yes/no, on/off, 1/0); anything else stops start-up.
      for (const bad of ["treu", "maybe", "2"]) {
        assert.isTrue(Exit.isFailure(yield* load({ DASHBOARD_SHOW_ROWS: bad })), `"${bad}" is refused`)
      }
      const unset = yield* load({ DASHBOARD_SHOW_ROWS: "" })
      assert.isTrue(Exit.isSuccess(unset) && unset.value.showRows === false, "empty is unset: off")
      const exit = yield* load({ HTTP_HOST: "127.0.0.1", DASHBOARD_TOKEN: "tok-123" })
      assert.isTrue(Exit.isSuccess(exit))
      const s = Exit.isSuccess(exit) ? exit.value : undefined
      assert.strictEqual(s?.host, "127.0.0.1")
      assert.strictEqual(Option.map(s!.token, Redacted.value).pipe(Option.getOrUndefined), "tok-123")
      assert.notInclude(String(s!.token), "tok-123")
      assert.notInclude(JSON.stringify(s), "tok-123")
      const empty = yield* load({ DASHBOARD_TOKEN: "  " })
      assert.isTrue(Exit.isSuccess(empty) && Option.isNone(empty.value.token), "an empty token is no token")
    }))
})
