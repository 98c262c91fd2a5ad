import { defineConfig } from "vitest/config"

// One run covers unit and integration tests. The global setup finds or starts the real local
// services the integration tests need; a service that cannot be reached fails the run, never skips it.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // The JSON report gives CI its "N passed, N failed" line.
    reporters: ["default", ["json", { outputFile: ".it/vitest-report.json" }]]
  }
})
