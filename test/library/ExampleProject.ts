import { spawnSync } from "node:child_process"
import { lstatSync, mkdirSync, symlinkSync } from "node:fs"
import { join } from "node:path"
import { root } from "../support/LocalService.ts"

export const exampleDir = join(root, "examples", "session-features")
export const examplePipeline = join(exampleDir, "src", "SessionFeaturesPipeline.ts")

/**
 * Links the example's `tributary` dependency to this checkout, as `npm install` in the example does
 * for `"tributary": "file:../.."` (a symlink). Its other dependencies resolve from the root's
 * node_modules, so a fresh clone needs no install in the example to run its tests.
 */
export const linkExample = (): void => {
  const link = join(exampleDir, "node_modules", "tributary")
  try {
    lstatSync(link)
  } catch {
    mkdirSync(join(exampleDir, "node_modules"), { recursive: true })
    symlinkSync(join("..", "..", ".."), link, "dir")
  }
}

/** Runs a JavaScript entry of the root's node_modules (tsc, vitest) with this Node, in `cwd`. */
export const runTool = (entry: string, args: ReadonlyArray<string>, cwd: string) => {
  const result = spawnSync(process.execPath, [join(root, "node_modules", entry), ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
    timeout: 120_000
  })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}
