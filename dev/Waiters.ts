/**
 * Waits for a condition on state that callbacks change, without polling: whoever changes the
 * state calls `changed()`, which wakes the waits whose condition now holds. Nothing here sleeps
 * on a timer, real or TestClock's, so a slow machine cannot make a wait fail.
 */
import { Effect } from "effect"

export const makeWaiters = () => {
  const waiting = new Set<{ readonly holds: () => boolean; readonly wake: () => void }>()
  return {
    changed: (): void => {
      for (const waiter of waiting) {
        if (waiter.holds()) {
          waiting.delete(waiter)
          waiter.wake()
        }
      }
    },
    /** Completes once `holds()` is true (at once if it already is). */
    until: (holds: () => boolean): Effect.Effect<void> =>
      Effect.async<void>((resume) => {
        if (holds()) return resume(Effect.void)
        const waiter = { holds, wake: () => resume(Effect.void) }
        waiting.add(waiter)
        return Effect.sync(() => void waiting.delete(waiter))
      })
  }
}
