/**
 * The --rate ceiling: turns handed out evenly at `rate` a second, never more than `rate` in any
 * second, and as close to `rate` as the timers allow.
 *
 * Each turn has a time on a schedule one interval (1000 / rate ms) after the one before. A turn
 * whose time has come goes at once; a timer that fires late does not push the schedule back, as
 * long as it is less than `catchUpMs` late: the turns after it go at once until the schedule is met
 * again. Effect's token-bucket RateLimiter, which the job used before, waits a whole interval from
 * each late timer, so every late millisecond was lost from the rate.
 *
 * The ceiling is kept by the times the turns were really taken (as each waiter resumes, just
 * before its request leaves): a turn goes no earlier than the `rate`-th turn before it plus a
 * second and a guard, so no window of a second holds more than `rate`, even at the far end of a
 * network that delays some requests more than others.
 *
 * One fiber of the pacer's gives the turns, in the order they were asked for; a waiter costs a
 * place in a queue, not a timer or a fiber of its own. Closing the pacer (a stop) answers the
 * waiters that may give up with false at once.
 */
import { Clock, Duration, Effect, type Scope } from "effect"

/** Added to the second of the ceiling's window: room for requests' unequal delays on their way. */
const windowGuardMs = 25

/** How late a timer may fire without the rate losing what it was late. */
const catchUpMs = 10

export interface Pacer {
  /** Waits for a turn: true; false at once when the pacer is closed (the run is stopping). */
  readonly turn: Effect.Effect<boolean>
  /** Waits for a turn whatever comes (a send's retries, which go on while a stop lets them finish). */
  readonly always: Effect.Effect<void>
  /** Answers the waiters of `turn` with false, now and from now on. */
  readonly close: () => void
}

interface Waiter {
  /** Resumed with the slot of the ring its turn took, or -1 (no turn: the pacer closed). */
  readonly resume: (slot: number) => void
  readonly stoppable: boolean
}

/** A pacer for `rate` turns a second, its fiber in the scope. */
export const makePacer = (rate: number): Effect.Effect<Pacer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const interval = 1000 / rate
    const windowMs = 1000 + windowGuardMs
    const slots = Math.max(1, Math.floor(rate))
    // When the last `slots` turns were given (a ring; -Infinity: not yet), and the next on the schedule.
    const given = new Float64Array(slots).fill(-Infinity)
    let oldest = 0
    let next = -Infinity
    let closed = false
    const queue: Array<Waiter> = []
    const waiting = yield* Effect.makeLatch(false)
    const clock = yield* Effect.clock

    const give = (now: number) => {
      const waiter = queue.shift()
      if (queue.length === 0) waiting.unsafeClose()
      if (waiter === undefined) return
      const slot = oldest
      given[slot] = now
      oldest = oldest + 1 === slots ? 0 : oldest + 1
      next = Math.max(next, now - catchUpMs) + interval
      waiter.resume(slot)
    }
    const giveNext = Effect.suspend(() => {
      if (queue.length === 0) return waiting.await
      const now = clock.unsafeCurrentTimeMillis()
      const wait = Math.max(next, given[oldest]! + windowMs) - now
      if (wait <= 0) return Effect.sync(() => give(now))
      return Effect.zipRight(Clock.sleep(Duration.millis(wait)), Effect.sync(() => give(clock.unsafeCurrentTimeMillis())))
    })
    yield* Effect.forkScoped(Effect.forever(giveNext))

    // The turn's time is when its waiter runs again, which a busy event loop can make later than
    // when it was given.
    const taken = (slot: number) => {
      if (slot < 0) return false
      given[slot] = Math.max(given[slot]!, clock.unsafeCurrentTimeMillis())
      return true
    }
    const wait = (stoppable: boolean) =>
      Effect.async<number>((resume) => {
        if (stoppable && closed) return resume(Effect.succeed(-1))
        const waiter: Waiter = { resume: (slot) => resume(Effect.succeed(slot)), stoppable }
        queue.push(waiter)
        waiting.unsafeOpen()
        return Effect.sync(() => {
          const at = queue.indexOf(waiter)
          if (at >= 0) queue.splice(at, 1)
        })
      }).pipe(Effect.map(taken))
    return {
      turn: wait(true),
      always: Effect.asVoid(wait(false)),
      close: () => {
        closed = true
        for (const waiter of queue.filter((w) => w.stoppable)) {
          queue.splice(queue.indexOf(waiter), 1)
          waiter.resume(-1)
        }
      }
    }
  })
