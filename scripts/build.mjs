// Bundles the CLI into one ESM file so a cron container needs only `node` and `dist/`.
import { build } from "esbuild"

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.js",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  minifySyntax: true,
  sourcemap: "linked",
  legalComments: "none",
  // Some CommonJS dependencies (pg) call require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module';const require = __createRequire(import.meta.url);"
  },
  // pg optionally loads the native binding; the job never uses it.
  external: ["pg-native"],
  logLevel: "warning"
})
