import { describe, expect, it } from "vitest"
import { sourceFiles } from "./support/deployment.js"

const sources = sourceFiles("src")
const tests = sourceFiles("test")

describe("the code's structure (issue 15)", () => {
  it("every module in src is under 300 lines and says in its first comment what it is for", () => {
    expect(sources.filter(({ text }) => text.split("\n").length > 300).map(({ file }) => file)).toEqual([])
    expect(sources.filter(({ text }) => !/^(\/\*\*|\/\/)/.test(text)).map(({ file }) => file)).toEqual([])
  })

  it("one idiom for spans: Effect.fn(name), never Effect.gen(...).pipe(Effect.withSpan(...))", () => {
    expect(sources.filter(({ text }) => text.includes("Effect.withSpan(")).map(({ file }) => file)).toEqual([])
  })

  it("tests under TestClock do not poll real timers (waitUntil)", () => {
    const polling = tests.filter(({ file, text }) =>
      !file.endsWith("TestApp.ts") && /TestClock\.\w+\(/.test(text) && /\bwaitUntil\(/.test(text)
    )
    expect(polling.map(({ file }) => file)).toEqual([])
  })
})
