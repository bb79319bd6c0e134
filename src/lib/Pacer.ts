/**
 * The --rate ceiling: turns handed out evenly at `rate` a second, never more than `rate` in any
 * second, and as close to `rate` as the timers allow.
 *
 * Each turn has a time on a schedule one interval (1000 / rate ms) after the one before. A turn
 * whose time has come goes at once; a timer that fires late does not push the schedule back, as
 * long as it is less than `catchUp` late: the turns after it go at once until the schedule is met
 * again. Effect's token-bucket RateLimiter, which the job used before, waits a whole interval from
 * each late timer, so every late millisecond was lost from the rate.
 *
 * The ceiling is kept by the times the turns were really taken: a turn goes no earlier than the
 * `rate`-th turn before it plus a second and a guard, so no window of a second holds more than
 * `rate`, even at the far end of a network that delays some requests more than others. Turns are
 * taken one at a time (a semaphore), so that those times are known when the next is computed.
 */
import { Clock, Duration, Effect } from "effect"

/** Added to the second of the ceiling's window: room for requests' unequal delays on their way. */
export const windowGuardMs = 10

/** How late a timer may fire without the rate losing what it was late. */
const catchUpMs = 10

/** Waits for the next turn under a ceiling of `rate` a second; a waiter interrupted takes no turn. */
export const makePacer = (rate: number): Effect.Effect<Effect.Effect<void>> =>
  Effect.gen(function*() {
    const interval = 1000 / rate
    const windowMs = 1000 + windowGuardMs
    const slots = Math.max(1, Math.floor(rate))
    // When the last `slots` turns were taken (a ring; -Infinity: not yet), and the next on the schedule.
    const taken = new Float64Array(slots).fill(-Infinity)
    let oldest = 0
    let next = -Infinity
    const one = yield* Effect.makeSemaphore(1)
    const clock = yield* Effect.clock

    const earliest = (now: number) => Math.max(now, next, taken[oldest]! + windowMs)
    const take = (now: number) => {
      taken[oldest] = now
      oldest = oldest + 1 === slots ? 0 : oldest + 1
      next = Math.max(next, now - catchUpMs) + interval
    }
    const turn = Effect.suspend(() => {
      const at = earliest(clock.unsafeCurrentTimeMillis())
      const wait = at - clock.unsafeCurrentTimeMillis()
      const taking = Effect.sync(() => take(clock.unsafeCurrentTimeMillis()))
      return wait <= 0 ? taking : Effect.zipRight(Clock.sleep(Duration.millis(wait)), taking)
    })
    return one.withPermits(1)(turn)
  })
