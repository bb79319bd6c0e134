/**
 * A send's tries: its retries within the run on transient failures (after the service's
 * Retry-After with its floor, cap and jitter, else an exponential backoff with full jitter, within
 * a budget), the turns each
 * request waits for under a rate limit, and the longest a send can take.
 */
import { Duration, Effect, Random } from "effect"
import type { RetryWithinRun } from "../../lib/ServicesConfig.js"
import { logDebugWith } from "../../lib/Log.js"
import { Metrics, type Telemetry } from "../../lib/Telemetry.js"
import { type Delivery, type Notification, NotificationError, NotSent, type Turns } from "../NotificationClient.js"
import { waitAfter } from "../../domain/Waits.js"

const withRetries = (error: NotificationError, retries: number) =>
  new NotificationError({
    workspaceId: error.workspaceId,
    todoId: error.todoId,
    status: error.status,
    reason: error.reason,
    retryAfterMs: error.retryAfterMs,
    retries,
    cause: error.cause
  })

/**
 * The longest one send can take, its retries included: each try may fetch a token, post, and
 * after a 401 fetch and post once more (four requests, each within the timeout), and the waits
 * between tries add up to at most the budget (none without retries). A claim must outlive this (see the run's lease).
 */
export const longestSend = (policy: RetryWithinRun): Duration.Duration =>
  Duration.sum(Duration.times(policy.timeout, 4 * (policy.retries + 1)), policy.retries > 0 ? policy.budget : Duration.zero)

/** What a request waits on before it leaves, under a rate limit. */
export type Paced = Effect.Effect<void, NotSent> | undefined

/** The wait before each request of one send: its first turn (refused: NotSent), then the next ones. */
export const pacedBy = (turns: Turns, notification: Notification): Paced => {
  let requests = 0
  const first = Effect.flatMap(turns.first, (go) =>
    go ? Effect.void : new NotSent({ workspaceId: notification.workspaceId, todoId: notification.todoId }))
  return Effect.suspend(() => (requests++ > 0 ? turns.next : first))
}

/** A delivery after `retries` retries, its accepted request taking the service `serviceMs`. */
export const delivered = (retries: number, serviceMs: number): Delivery => ({ retries, serviceMs })

/**
 * Tries `attempt` again on transient failures: after the Retry-After the service gave, else after
 * an exponential backoff with full jitter; at most `retries` more times and `budget` of waiting.
 * Written as combinators, not a generator: its success path runs once per notification.
 */
export const retryTransient = <E, F>(
  /** One try: the service's time for its accepted request. */
  attempt: Effect.Effect<number, E>,
  policy: RetryWithinRun,
  /** Makes a failure this notification's (a NotificationError), or leaves it the caller's. */
  classify: (error: E) => NotificationError | F,
  telemetry: Telemetry,
  /** The first try, when it has a form of its own (the client's shorter one); else `attempt`. */
  first: Effect.Effect<Delivery, E> = Effect.map(attempt, (ms) => delivered(0, ms))
): Effect.Effect<Delivery, NotificationError | F> => {
  const budget = Duration.toMillis(policy.budget)
  const base = Duration.toMillis(policy.base)
  // What follows the failure of try number `retry`, after `waited` ms of waiting before it.
  const afterTry = (retry: number, waited: number) => (failure: E): Effect.Effect<Delivery, NotificationError | F> => {
    const error = classify(failure)
    // Anything but a NotificationError (the client refused) is not this notification's to retry.
    if (!(error instanceof NotificationError)) return Effect.fail(error)
    const giveUp = retry === 1 ? error : withRetries(error, retry - 1)
    if (!error.transient || retry > policy.retries) return Effect.fail(giveUp)
    // The service's Retry-After, within its floor and cap and spread (Answers.waitAfter); else an
    // exponential backoff with full jitter.
    const delayed = Effect.map(Random.next, (r) =>
      error.retryAfterMs === undefined
        ? Math.round(base * 2 ** (retry - 1) * r)
        : waitAfter({ _tag: "Delay", ms: error.retryAfterMs }, r))
    return Effect.flatMap(delayed, (delay) => {
      if (waited + delay > budget) return Effect.fail(giveUp)
      return telemetry.counted(Metrics.retried, undefined).pipe(
        Effect.zipRight(logDebugWith("Retrying notification", () => ({
          workspaceId: error.workspaceId,
          todoId: error.todoId,
          error: error.message,
          retry,
          delayMs: delay
        }))),
        Effect.zipRight(Effect.sleep(Duration.millis(delay))),
        Effect.zipRight(Effect.catchAll(Effect.map(attempt, (ms) => delivered(retry, ms)), afterTry(retry + 1, waited + delay)))
      )
    })
  }
  return Effect.catchAll(first, afterTry(1, 0))
}
