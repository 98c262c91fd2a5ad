// Runs before `npm start` / `npm test` with whatever Node is on the machine (it may be older than 24):
// installs the npm packages, Node 24 among them, when a fresh clone has none yet. CommonJS on purpose.
const { existsSync, statSync } = require("node:fs")
const { execSync } = require("node:child_process")
const { join } = require("node:path")

const root = join(__dirname, "..")
const marker = join(root, "node_modules", ".package-lock.json")
const installed = existsSync(join(root, "node_modules", ".bin", "node")) && existsSync(marker)
const stale = installed && statSync(join(root, "package.json")).mtimeMs > statSync(marker).mtimeMs
if (!installed || stale) {
  console.log("Installing npm packages (Node 24 comes with them)...")
  execSync("npm install --no-audit --no-fund", { cwd: root, stdio: "inherit" })
}

// `npm test` also needs a few Debian packages (PostgreSQL, Chromium, promtool, python3-yaml): installed
// here when missing and the user may (root or passwordless sudo), otherwise one line says what to install.
if (process.env.npm_lifecycle_event === "pretest") {
  try {
    execSync("bash scripts/install-system-packages.sh", { cwd: root, stdio: "inherit" })
  } catch {
    process.exit(1)
  }
}
