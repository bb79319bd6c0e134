// Bundles the CLI so a cron container needs only `node` and `dist/`:
// - dist/job.cjs, the whole job (src/main.ts and its dependencies), one CommonJS file that V8 can
//   load from a code cache;
// - dist/main.js, the loader (src/boot.ts) that starts it with that cache;
// - dist/job-<tag>.cache, the code cache for no NODE_OPTIONS, made by running `--help` once.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, rmSync } from "node:fs"
import path from "node:path"

const common = {
  bundle: true,
  platform: "node",
  target: "node24",
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

// V8's code cache for no NODE_OPTIONS (src/boot.ts says how it is made and used). A cache serves
// only the flags it was made under: the image makes its own under its NODE_OPTIONS (Dockerfile),
// and the benchmark under the ones it runs the job with (bench/run.ts).
const { NODE_OPTIONS: _, ...env } = process.env
execFileSync(process.execPath, ["dist/main.js", "--help"], {
  env: { ...env, DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1", NO_COLOR: "1" },
  stdio: ["ignore", "ignore", "inherit"]
})
