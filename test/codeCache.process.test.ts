import { execFileSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { distMain, runBuilt, stackTraceLine } from "./support/process.js"

/** dist/ as the image's build stage leaves it: the loader and the job, no code cache yet. */
const bareDist = () => {
  const dist = path.join(mkdtempSync(path.join(tmpdir(), "code-cache-")), "dist")
  mkdirSync(dist)
  for (const file of ["main.js", "job.cjs"]) copyFileSync(path.join(path.dirname(distMain), file), path.join(dist, file))
  return dist
}

/** V8's tag of its caches under `env`'s NODE_OPTIONS (its version and flags): it refuses a cache made under another. */
const cacheTag = (env: Record<string, string>) =>
  execFileSync(process.execPath, ["-p", "require('node:v8').cachedDataVersionTag()"], { encoding: "utf8", env: { ...process.env, ...env } }).trim()

const caches = (dist: string) => readdirSync(dist).filter((file) => file.endsWith(".cache")).sort()

/** `--help` of the job in `dist`, with the start's debug line (which says what became of the cache). */
const help = async (dist: string, env: Record<string, string> = {}) => {
  const result = await runBuilt(["--help"], { main: path.join(dist, "main.js"), env: { LOG_LEVEL: "debug", NO_COLOR: "1", ...env } })
  expect(result.code).toBe(0)
  const started = result.stdout.split("\n").find((line) => line.includes(`"message":"Started."`))
  return {
    codeCache: JSON.parse(started!).codeCache as string,
    help: result.stdout.split("\n").filter((line) => !line.startsWith("{")).join("\n")
  }
}

describe("the built job's start from V8's code cache (dist/main.js)", () => {
  const made: Array<string> = []
  afterAll(() => made.forEach((dist) => rmSync(path.dirname(dist), { recursive: true, force: true })))
  const fresh = () => {
    const dist = bareDist()
    made.push(dist)
    return dist
  }

  it("runs without a cache, makes one with DELAY_NOTIFICATIONS_WRITE_CODE_CACHE=1, then starts from it", async () => {
    const dist = fresh()
    const compiled = await help(dist)
    expect(compiled.codeCache).toBe("missing")
    expect(compiled.help).toContain("send-delay-notifications")

    await help(dist, { DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1" })
    expect(caches(dist)).toHaveLength(1)

    const cached = await help(dist)
    expect(cached.codeCache).toBe("used")
    expect(cached.help).toBe(compiled.help)
  })

  it("keeps a cache per V8 flags (where NODE_OPTIONS' heap cap is one of them), and one V8 refuses (made under other flags) only slows the start", async () => {
    const dist = fresh()
    await help(dist, { DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1" })
    const [plain] = caches(dist)
    const capped = { NODE_OPTIONS: "--max-old-space-size=96" }
    if (cacheTag(capped) === cacheTag({})) {
      // This V8 leaves the heap's size out of the flags its caches hold (Node 26's): one cache serves both.
      expect((await help(dist, capped)).codeCache).toBe("used")
    } else {
      expect((await help(dist, capped)).codeCache).toBe("missing")
      await help(dist, { ...capped, DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1" })
      const [other] = caches(dist).filter((file) => file !== plain)
      expect((await help(dist, capped)).codeCache).toBe("used")
      // The cache made without the cap, under the name for the cap: V8 sees the flags differ.
      copyFileSync(path.join(dist, plain!), path.join(dist, other!))
      const refused = await help(dist, capped)
      expect(refused.codeCache).toBe("rejected")
      expect(refused.help).toBe((await help(dist)).help)
    }
  })

  it("never gives V8 the cache of another build, even one of the same length (V8 compares only lengths)", async () => {
    const dist = fresh()
    await help(dist, { DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1" })
    expect((await help(dist)).help).toContain("delay-notifications 0.1.0")

    const job = path.join(dist, "job.cjs")
    const source = readFileSync(job, "utf8")
    expect(source).toContain(`version: "0.1.0"`)
    writeFileSync(job, source.replace(`version: "0.1.0"`, `version: "9.9.9"`))

    const rebuilt = await help(dist)
    expect(rebuilt.codeCache).toBe("stale")
    expect(rebuilt.help).toContain("delay-notifications 9.9.9")
    expect(rebuilt.help).not.toContain("0.1.0")
  })

  it("without dist/job.cjs: one line saying what is missing, exit 1, no stack trace", async () => {
    const dist = fresh()
    rmSync(path.join(dist, "job.cjs"))
    const result = await runBuilt(["--help"], { main: path.join(dist, "main.js") })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      `Unexpected failure. Aborting job... cannot read ${path.join(dist, "job.cjs")} (ENOENT): the build is incomplete, run npm run build\n`
    )
    expect(result.stderr).not.toMatch(stackTraceLine)
    expect(result.stdout).toBe("")
  })
})
