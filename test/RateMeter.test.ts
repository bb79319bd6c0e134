import { describe, expect, it } from "@effect/vitest"
import { makeRateMeter } from "../src/lib/RateMeter.js"

describe("the rate meter (events a second over about the last second)", () => {
  it("reads a steady rate as it is, at any moment of a quarter", () => {
    const meter = makeRateMeter()
    // 200 a second: one every 5 ms, for 3 s.
    for (let at = 0; at <= 3000; at += 5) meter.add(at)
    expect(meter.perSecond(3000)).toBeCloseTo(200, -1)
    for (let at = 3005; at <= 3120; at += 5) meter.add(at)
    expect(meter.perSecond(3120)).toBeCloseTo(200, -1)
  })

  it("forgets what is older than its second and a quarter, also across a long silence", () => {
    const meter = makeRateMeter()
    for (let at = 0; at < 1000; at += 10) meter.add(at)
    expect(meter.perSecond(1000)).toBeGreaterThan(70)
    expect(meter.perSecond(2300)).toBe(0)
    meter.add(60_000)
    // One event in the current quarter, over a second and that quarter's first instant.
    expect(meter.perSecond(60_000)).toBe(1)
  })

  it("reads a burst at the start over the span it is asked for at least", () => {
    const meter = makeRateMeter()
    // 500 answers in the first 100 ms: over half a second at least, 1,000 a second; over a quarter, 2,000.
    for (let i = 0; i < 500; i++) meter.add(i / 5)
    expect(meter.perSecond(200, 500)).toBe(1000)
    expect(meter.perSecond(200)).toBe(2000)
  })
})
