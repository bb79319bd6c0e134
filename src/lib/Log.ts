/**
 * Helpers for log lines on the path taken once per notification.
 */
import { Effect, type Fiber, FiberRef, LogLevel } from "effect"

/** Debug lines pass a fiber's minimum log level. */
const debugPasses = (minimum: LogLevel.LogLevel) => LogLevel.lessThanEqual(minimum, LogLevel.Debug)

/** Debug lines are logged by this fiber (read synchronously, where a step of Effect's run loop would cost). */
export const debugLogged = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  debugPasses(fiber.getFiberRef(FiberRef.currentMinimumLogLevel))

/** Debug lines are logged by the current fiber. */
export const debugOn: Effect.Effect<boolean> = FiberRef.getWith(FiberRef.currentMinimumLogLevel, (minimum) => Effect.succeed(debugPasses(minimum)))

/**
 * A debug line with annotations, built only when debug logging is on: on the per-notification
 * path, `annotateLogs` on a line that is then dropped was a measurable share of the CPU time.
 */
export const logDebugWith = (message: string, annotations: () => Record<string, unknown>) =>
  FiberRef.getWith(FiberRef.currentMinimumLogLevel, (minimum) =>
    debugPasses(minimum) ? Effect.logDebug(message).pipe(Effect.annotateLogs(annotations())) : Effect.void)
