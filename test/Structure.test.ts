import { readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { sourceFiles } from "./support/deployment.js"

const root = path.resolve(import.meta.dirname, "..")
const sources = sourceFiles("src")
const tests = sourceFiles("test")

describe("the code's structure", () => {
  it("every module in src is under 300 lines and says in its first comment what it is for", () => {
    expect(sources.filter(({ text }) => text.split("\n").length > 300).map(({ file }) => file)).toEqual([])
    expect(sources.filter(({ text }) => !/^(\/\*\*|\/\/)/.test(text)).map(({ file }) => file)).toEqual([])
  })

  it("one idiom for spans: Effect.fn(name), never Effect.gen(...).pipe(Effect.withSpan(...))", () => {
    expect(sources.filter(({ text }) => text.includes("Effect.withSpan(")).map(({ file }) => file)).toEqual([])
  })

  it("one convention for a port: services/X.ts opens with its Tag, holds no adapter; its live layer is XLive in services/X/Live.ts", () => {
    const ports = sources.filter(({ file }) => /^src\/services\/[^/]+\.ts$/.test(file))
    const withTag = ports.filter(({ text }) => /extends Context\.(Tag|Reference)/.test(text))
    expect(withTag.length).toBeGreaterThanOrEqual(6)
    for (const { file, text } of withTag) {
      const name = file.slice("src/services/".length, -".ts".length)
      // The first declaration after the imports is the port itself.
      const firstDeclaration = /^export (class|interface|type|const) (\w+)/m.exec(text)
      expect(firstDeclaration?.[2], file).toBe(name)
      // No layer is built in the port's module: adapters live beside it.
      expect(text, file).not.toMatch(/\bLayer\.(effect|scoped|succeed|sync)\(/)
      const live = sources.find((source) => source.file === `src/services/${name}/Live.ts`)
      // Progress's default (log lines) needs no layer; its live one is the terminal's bar.
      if (name !== "Progress") expect(live?.text, file).toMatch(new RegExp(`export const ${name}Live\\b`))
    }
  })

  it("the run sees ports, not adapters: run/ and the use case import no services/X/ folder, and the ledger's port speaks of no table pages", () => {
    const runSide = sources.filter(({ file }) => file.startsWith("src/run/") || file === "src/SendDelayNotifications.ts")
    expect(runSide.filter(({ text }) => /from "\.\.?\/(\.\.\/)?services\/[A-Za-z]+\//.test(text)).map(({ file }) => file)).toEqual([])
    const port = sources.find(({ file }) => file === "src/services/TodoRepository.ts")!.text
    expect(port).not.toMatch(/TablePart|page/i)
  })

  it("the code-cache loader hands the job its status without a global, and the build reads no Dockerfile", () => {
    expect(sources.filter(({ text }) => text.includes("globalThis")).map(({ file }) => file)).toEqual([])
    expect(readFileSync(path.join(root, "scripts/build.mjs"), "utf8")).not.toContain("Dockerfile\"")
  })

  it("one kind of tagged error: Schema.TaggedError, with its fields as a schema", () => {
    expect(sources.filter(({ text }) => /Data\.TaggedError|Data\.Error\b/.test(text)).map(({ file }) => file)).toEqual([])
  })

  it("no issue numbers in code or test titles; no measured figures' item numbers in comments", () => {
    const numbered = new RegExp(["issue", "\\s+\\d+"].join(""), "i")
    expect([...sources, ...tests].filter(({ text }) => numbered.test(text)).map(({ file }) => file)).toEqual([])
    const item = new RegExp(["RESULTS\\.md, item", "|item \\d+\\)"].join(""))
    expect(sources.filter(({ text }) => item.test(text)).map(({ file }) => file)).toEqual([])
  })

  it("tests under TestClock do not poll real timers (waitUntil)", () => {
    const polling = tests.filter(({ file, text }) =>
      !file.endsWith("TestApp.ts") && /TestClock\.\w+\(/.test(text) && /\bwaitUntil\(/.test(text)
    )
    expect(polling.map(({ file }) => file)).toEqual([])
  })
})
