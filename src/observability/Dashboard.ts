import { Effect, FileSystem, Path } from "effect"

/** The page's files: beside this module in src/, and copied beside it into dist/ by `npm run build`. */
const folder = new URL("./dashboard/", import.meta.url)

/** Puts `element` in place of `tag`; a page that lost the tag is a build fault, not a page to serve half-styled. */
const inline = (html: string, tag: string, element: string): Effect.Effect<string> =>
  html.includes(tag)
    ? Effect.succeed(html.replace(tag, () => element))
    : Effect.die(new Error(`dashboard/index.html no longer contains ${tag}`))

/**
 * The live dashboard as one self-contained page (no external asset, font or CDN): dashboard/index.html
 * with dashboard.css and dashboard.js inlined where it links them. Read once, when the server starts.
 */
export const loadDashboard = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const read = (name: string) =>
    Effect.flatMap(path.fromFileUrl(new URL(name, folder)), (file) => fs.readFileString(file))
  const [html, css, js] = yield* Effect.all([read("index.html"), read("dashboard.css"), read("dashboard.js")])
  const styled = yield* inline(html, `<link rel="stylesheet" href="dashboard.css">`, `<style>\n${css}</style>`)
  return yield* inline(styled, `<script src="dashboard.js"></script>`, `<script>\n${js}</script>`)
}).pipe(
  // Missing files mean dist/ was built without its assets: fail the start, do not serve an empty page.
  Effect.catch((e) => Effect.die(new Error(`cannot read the dashboard from ${folder.href}: ${e.message}`)))
)
