/**
 * dist/main.js: starts the job (dist/job.cjs, bundled from src/main.ts) with V8's code cache when
 * one was made for this exact build, V8 and flags. Compiling the bundle is a large part of a
 * short run's CPU (one with nothing to send); with the cache V8 reads the compiled code instead.
 * Without one the job runs the same, only its start is slower.
 *
 * The cache of a V8 and its flags (V8 refuses a cache made under other heap flags, such as
 * NODE_OPTIONS=--max-old-space-size) is dist/job-<tag>.cache. `npm run build` makes it for no
 * flags and for the image's; the Dockerfile makes it under the image's own NODE_OPTIONS. It is
 * made by running `--help` with DELAY_NOTIFICATIONS_WRITE_CODE_CACHE=1: V8 then writes the code
 * it compiled, the modules and the command line's, at exit.
 *
 * V8 checks a cache against the source's length only, so the file starts with the SHA-1 of the
 * bundle it was made from, and a cache of another build is never given to V8 ("stale").
 */
import "./lib/HeapTuning.js"
import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { cachedDataVersionTag } from "node:v8"
import { Script } from "node:vm"
import { ExitCode, Lines, stderrLine } from "./ExitCode.js"

/**
 * What became of the code cache, for the debug line at the start of every command:
 * - used: V8 took the compiled code from the cache made for this dist/job.cjs, V8 and flags;
 * - missing: no cache for this V8 and its flags (NODE_OPTIONS' heap flags, for one);
 * - stale: the cache was made for another dist/job.cjs (V8 itself compares only the lengths);
 * - rejected: V8 refused it (another V8 version or other V8 flags);
 * - not-loaded: the job was not started by this loader (tests that run src/).
 */
export type CodeCacheStatus = "used" | "missing" | "stale" | "rejected" | "not-loaded"

const digestLength = 20

const fail = (reason: string): never => {
  process.stderr.write(stderrLine(Lines.unexpected, reason))
  return process.exit(ExitCode.Aborted)
}

const dist = path.dirname(fileURLToPath(import.meta.url))
const job = path.join(dist, "job.cjs")

/**
 * One cache per V8 version, V8 flags and CPU features, which V8 sums up in this tag: it refuses a
 * cache made under another. Node's own options (--require, --cpu-prof) do not change it.
 */
const cacheFile = path.join(dist, `job-${cachedDataVersionTag().toString(16)}.cache`)

/**
 * The job compiled, from the cache when it fits. The file's bytes and the cache's (megabytes
 * outside the V8 heap) are let go once V8 has the script: only the source stays, as V8 keeps it.
 */
const compile = () => {
  let bytes: Buffer
  try {
    bytes = readFileSync(job)
  } catch (error) {
    return fail(`cannot read ${job} (${(error as NodeJS.ErrnoException).code ?? "error"}): the build is incomplete, run npm run build`)
  }
  const digest = createHash("sha1").update(bytes).digest()
  let cached: Buffer | undefined
  let status: CodeCacheStatus = "missing"
  try {
    const file = readFileSync(cacheFile)
    if (file.subarray(0, digestLength).equals(digest)) cached = file.subarray(digestLength)
    else status = "stale"
  } catch {
    // No cache for these flags (or unreadable): compiled at start.
  }
  // As Node wraps a CommonJS module.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${bytes.toString("utf8")}\n});`
  const script = new Script(wrapped, { filename: job, ...(cached ? { cachedData: cached } : {}) })
  if (cached) status = script.cachedDataRejected === true ? "rejected" : "used"
  return { script, digest, status }
}

const { digest, script, status } = compile()

if (process.env.DELAY_NOTIFICATIONS_WRITE_CODE_CACHE === "1") {
  // At exit the cache also holds the functions compiled while the command ran.
  process.once("exit", () => {
    try {
      writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()]))
    } catch (error) {
      process.stderr.write(`Could not write the code cache ${cacheFile}: ${(error as Error).message}\n`)
      process.exitCode = 1
    }
  })
}

// The job's module (src/main.ts), then its start, told what became of the cache.
const module: { exports: { start?: (codeCache: CodeCacheStatus) => void } } = { exports: {} }
;(script.runInThisContext() as (...args: ReadonlyArray<unknown>) => void)
  .call(module.exports, module.exports, createRequire(job), module, job, dist)
if (module.exports.start === undefined) fail(`${job} has no start: the build is incomplete, run npm run build`)
module.exports.start!(status)
