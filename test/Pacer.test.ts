import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect } from "effect"
import { makePacer } from "../src/lib/Pacer.js"

/**
 * A Clock whose timers fire `lateMs` late, on virtual time that moves only when a fiber sleeps:
 * a timer that wakes late, as Node's do under load, without a real wait (the pacer's one fiber
 * is the only one that sleeps, so one virtual time serves it and its waiters).
 */
const lateClock = (lateMs: number) => {
  let now = 1_000_000
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now * 1e6)),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now * 1e6))),
    sleep: (duration) =>
      Effect.sync(() => {
        now += Duration.toMillis(duration) + lateMs
      })
  }
  return clock
}

/** The turns `workers` fibers take in `seconds` of the clock's time, when each takes them one after another. */
const turnsTaken = (rate: number, lateMs: number, workers: number, seconds: number) => {
  const clock = lateClock(lateMs)
  return Effect.gen(function*() {
    const start = clock.unsafeCurrentTimeMillis()
    const end = start + seconds * 1000
    const { turn } = yield* makePacer(rate)
    const times: Array<number> = []
    const worker = Effect.gen(function*() {
      while (clock.unsafeCurrentTimeMillis() < end) {
        yield* turn
        if (clock.unsafeCurrentTimeMillis() < end) times.push(clock.unsafeCurrentTimeMillis())
      }
    })
    yield* Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded" })
    return times
  }).pipe(Effect.scoped, Effect.withClock(clock))
}

/** The most turns in any window of one second (from each turn on). */
const mostInASecond = (times: ReadonlyArray<number>) => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + 1000) j++
    most = Math.max(most, j - i)
  }
  return most
}

describe("the --rate pacer", () => {
  for (const rate of [200, 450, 1000, 2000]) {
    it.effect(`gives at least 95 % of ${rate} a second over 20 s, never more than ${rate} in a second, with timers on time or late`, () =>
      Effect.gen(function*() {
        for (const lateMs of [0, 1, 4]) {
          for (const workers of [1, 64]) {
            const times = yield* turnsTaken(rate, lateMs, workers, 20)
            expect(times.length, `late ${lateMs} ms, ${workers} workers`).toBeGreaterThanOrEqual(0.95 * rate * 20)
            expect(mostInASecond(times), `late ${lateMs} ms, ${workers} workers`).toBeLessThanOrEqual(rate)
          }
        }
      }))
  }
})
