/**
 * Helpers for log lines on the path taken once per notification.
 */
import { Effect, type Fiber, FiberRef, LogLevel } from "effect"

/** Debug lines are logged by this fiber (read synchronously, where a step of Effect's run loop would cost). */
export const debugLogged = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  LogLevel.lessThanEqual(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)

/**
 * A debug line with annotations, built only when debug logging is on: on the per-notification
 * path, `annotateLogs` on a line that is then dropped was a measurable share of the CPU time.
 */
export const logDebugWith = (message: string, annotations: () => Record<string, unknown>) =>
  FiberRef.getWith(FiberRef.currentMinimumLogLevel, (minimum) =>
    LogLevel.lessThanEqual(minimum, LogLevel.Debug)
      ? Effect.logDebug(message).pipe(Effect.annotateLogs(annotations()))
      : Effect.void)
