import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { forEachConcurrently } from "../src/lib/Pipeline.js"

describe("forEachConcurrently", () => {
  it.effect("handles every element exactly once, never more than `concurrency` at a time", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      let inFlight = 0
      let maxInFlight = 0
      yield* forEachConcurrently(
        Stream.range(1, 10_000),
        (n) =>
          Effect.gen(function*() {
            inFlight++
            maxInFlight = Math.max(maxInFlight, inFlight)
            yield* Effect.yieldNow()
            seen.push(n)
            inFlight--
          }),
        { concurrency: 8 }
      )
      expect(seen.length).toBe(10_000)
      expect(new Set(seen).size).toBe(10_000)
      expect(maxInFlight).toBe(8)
    }))

  it.effect("stops at the stream's failure and returns it", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const result = yield* forEachConcurrently(
        Stream.concat(Stream.range(1, 3), Stream.fail("database gone")),
        (n) => Effect.sync(() => void seen.push(n)),
        { concurrency: 2 }
      ).pipe(Effect.flip)
      expect(result).toBe("database gone")
      expect(seen.every((n) => n <= 3)).toBe(true)
    }))
})
