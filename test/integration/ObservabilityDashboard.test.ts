import { assert, describe, it } from "@effect/vitest"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { chromium } from "playwright-core"
import { eventually, freePort, startObservedService, stopService } from "../observability/support/ObservedService.ts"

const root = join(import.meta.dirname, "..", "..")
const artifacts = join(root, "test-artifacts")
const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

const numberIn = (text: string | null): number => Number((text ?? "").replace(/[^0-9.-]/g, ""))

describe("the live dashboard in headless Chromium (embedded demo as a child process)", () => {
  it("shows each pipeline with moving numbers and the newest feature rows; screenshot in test-artifacts/", async () => {
    const port = await freePort()
    const service = startObservedService(["run", "transactions"], {
      METRICS_PORT: String(port),
      HTTP_HOST: "127.0.0.1",
      LOG_FORMAT: "json",
      // This test looks at the newest feature rows: previews are off unless asked for.
      DASHBOARD_SHOW_ROWS: "true"
    })
    const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true })
    try {
      await service.waitForOutput(/observability: dashboard/, 30_000)
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 })
      // Every request the page makes must go to the service itself: no CDN, font or image elsewhere.
      const foreign: Array<string> = []
      page.on("request", (r) => {
        if (!r.url().startsWith(`http://127.0.0.1:${port}/`) && !r.url().startsWith("data:")) foreign.push(r.url())
      })
      await page.goto(`http://127.0.0.1:${port}/`)

      const recordsIn = page.locator("[data-pipeline=\"transactions\"][data-metric=\"recordsIn\"] .value")
      const first = await eventually(
        "records in shown",
        async () => {
          const n = numberIn(await recordsIn.textContent({ timeout: 1_000 }))
          return n > 0 ? n : undefined
        },
        30_000,
        service
      )
      // The page polls every second: the count moves while the simulator publishes.
      const later = await eventually(
        "records in moved",
        async () => {
          const n = numberIn(await recordsIn.textContent({ timeout: 1_000 }))
          return n > first ? n : undefined
        },
        15_000,
        service
      )
      assert.isAbove(later, first)

      const recordsOut = numberIn(
        await page.locator("[data-pipeline=\"transactions\"][data-metric=\"recordsOut\"] .value").textContent()
      )
      assert.isAbove(recordsOut, 0)
      await eventually(
        "feature rows shown",
        async () => {
          const rows = Number(
            await page.locator("[data-online-table=\"transactions\"]").getAttribute("data-rows", {
              timeout: 1_000
            })
          )
          return rows > 0 ? rows : undefined
        },
        20_000,
        service
      )
      assert.isAbove(
        await page.locator("[data-online-table=\"transactions\"] tbody tr").count(),
        0,
        "the rows themselves are shown"
      )
      assert.strictEqual(await page.locator("[data-row-previews=\"off\"]").count(), 0)
      assert.strictEqual(await page.locator("svg.graph").count(), 1, "one pipeline graph")
      assert.strictEqual(await page.locator("#ready").textContent(), "ready")
      // Let the throughput chart gather a few seconds, then keep a picture of it.
      await page.waitForTimeout(4_000)
      mkdirSync(artifacts, { recursive: true })
      await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true })
      assert.deepStrictEqual(foreign, [])
    } finally {
      await browser.close()
      await stopService(service)
    }
  }, 90_000)

  it(
    "with DASHBOARD_TOKEN: opened once as /?token=, keeps working without it in the address; no rows by default",
    async () => {
      const port = await freePort()
      const token = "dash-t0ken-for-the-browser"
      const service = startObservedService(["run", "transactions"], {
        METRICS_PORT: String(port),
        HTTP_HOST: "127.0.0.1",
        LOG_FORMAT: "json",
        DASHBOARD_TOKEN: token
      })
      const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true })
      try {
        await service.waitForOutput(/observability: dashboard/, 30_000)
        const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 })
        const denied = await page.goto(`http://127.0.0.1:${port}/`)
        assert.strictEqual(denied?.status(), 401, "no token, no page")

        await page.goto(`http://127.0.0.1:${port}/?token=${token}`)
        const recordsIn = page.locator("[data-pipeline=\"transactions\"][data-metric=\"recordsIn\"] .value")
        const first = await eventually(
          "records in shown (the page's API calls carry the token)",
          async () => {
            const n = numberIn(await recordsIn.textContent({ timeout: 1_000 }))
            return n > 0 ? n : undefined
          },
          30_000,
          service
        )
        assert.isAbove(first, 0)
        assert.notInclude(page.url(), token, "the token left the address bar")
        await eventually(
          "the page says row previews are off",
          async () => ((await page.locator("[data-row-previews=\"off\"]").count()) > 0 ? true : undefined),
          20_000,
          service
        )
        assert.include(await page.locator("[data-row-previews=\"off\"]").first().textContent(), "row previews are off")
        assert.strictEqual(await page.locator("[data-online-table=\"transactions\"] tbody tr").count(), 0)
        await eventually(
          "ready shown",
          async () => ((await page.locator("#ready").textContent()) === "ready" ? true : undefined),
          20_000,
          service
        )
        mkdirSync(artifacts, { recursive: true })
        await page.screenshot({ path: join(artifacts, "dashboard-no-rows.png"), fullPage: true })
      } finally {
        await browser.close()
        await stopService(service)
      }
      assert.notInclude(service.output(), token, "the token is never logged")
    },
    90_000
  )
})
