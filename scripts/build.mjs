// Bundles the CLI so a cron container needs only `node` and `dist/`:
// - dist/job.cjs, the whole job (src/main.ts and its dependencies), one CommonJS file that V8 can
//   load from a code cache;
// - dist/main.js, the loader (src/boot.ts) that starts it with that cache;
// - dist/job-<tag>.cache, the code caches for no NODE_OPTIONS and for the image's, made by
//   running `--help` once under each (src/boot.ts says how; the Dockerfile makes its own).
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs"
import path from "node:path"

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  minifySyntax: true,
  legalComments: "none",
  logLevel: "warning"
}

// Caches of an earlier build would only be refused (src/boot.ts); main.js has no map of its own now.
mkdirSync("dist", { recursive: true })
for (const name of readdirSync("dist").filter((name) => name.endsWith(".cache") || name === "main.js.map")) {
  rmSync(path.join("dist", name))
}

await build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: "dist/job.cjs",
  format: "cjs",
  sourcemap: "linked",
  // pg optionally loads the native binding; the job never uses it.
  external: ["pg-native"]
})

await build({
  ...common,
  entryPoints: ["src/boot.ts"],
  outfile: "dist/main.js",
  format: "esm",
  banner: { js: "#!/usr/bin/env node" }
})

// And under the image's NODE_OPTIONS, read from the Dockerfile as bench/run.ts reads it, so that
// the benchmark and a local run with the image's settings start from the cache too. The
// Dockerfile's build stage has no Dockerfile: its runtime stage makes that cache itself.
const imageNodeOptions = existsSync("Dockerfile")
  ? /NODE_OPTIONS="([^"]*)"/.exec(readFileSync("Dockerfile", "utf8"))?.[1]
  : undefined
for (const nodeOptions of ["", ...(imageNodeOptions ? [imageNodeOptions] : [])]) {
  const { NODE_OPTIONS: _, ...env } = process.env
  execFileSync(process.execPath, ["dist/main.js", "--help"], {
    env: { ...env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}), DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1", NO_COLOR: "1" },
    stdio: ["ignore", "ignore", "inherit"]
  })
}
