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
      LOG_FORMAT: "json"
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
})
