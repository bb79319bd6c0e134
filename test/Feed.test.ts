import { it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { describe, expect } from "vitest"
import { type FeedBatch, makeFeed } from "../src/lib/Feed.js"

const batch = (n: number): FeedBatch<number> => ({ items: Array.from({ length: n }, (_, i) => i), next: 0 })

// Whether the producer may add a batch now: `wantMore` done without waiting.
const wantsMore = (feed: { readonly wantMore: Effect.Effect<void> }) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(feed.wantMore)
    yield* Effect.yieldNow()
    const done = fiber.unsafePoll() !== null
    yield* Fiber.interrupt(fiber)
    return done
  })

describe("the feed of claimed batches", () => {
  it.effect("holds the producer back while `ahead` items are untaken, and lets it on as they are taken", () =>
    Effect.gen(function*() {
      const feed = yield* makeFeed<FeedBatch<number>>(4)
      feed.add(batch(4))
      expect(yield* wantsMore(feed)).toBe(false)
      feed.poll()
      expect(yield* wantsMore(feed)).toBe(true)
    }))

  it.effect("counts items set aside as untaken only past its free allowance: a workspace that waits does not stop the claims", () =>
    Effect.gen(function*() {
      const feed = yield* makeFeed<FeedBatch<number>>(4, 2)
      feed.add(batch(4))
      for (let i = 0; i < 4; i++) feed.poll()
      // Four set aside: two past the allowance count, under `ahead`; the producer may add.
      for (let i = 0; i < 4; i++) feed.aside(1)
      expect(yield* wantsMore(feed)).toBe(true)
      // Two more: four past the allowance, at `ahead`.
      feed.aside(1)
      feed.aside(1)
      expect(yield* wantsMore(feed)).toBe(false)
      // One taken up again: under `ahead`.
      feed.aside(-1)
      expect(yield* wantsMore(feed)).toBe(true)
    }))
})
