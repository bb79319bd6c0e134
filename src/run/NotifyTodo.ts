/**
 * One claimed todo's notification: sent through the NotificationClient, and its outcome for the
 * ledger. A failure is logged for this todo alone and becomes a later try or, after the last
 * one, a dead letter; the run goes on. A throttled send is no outcome yet: the run sends the todo
 * again later (Throttling).
 */
import { DateTime, Effect } from "effect"
import { afterFailure, type RetryPolicy } from "../domain/RetryPolicy.js"
import { type ClaimedTodo, delayMessage, idempotencyKey } from "../domain/Todo.js"
import { Metrics, type Telemetry } from "../lib/Telemetry.js"
import type { NotificationClient, NotificationError, Turns } from "../services/NotificationClient.js"
import type { ClientRejected } from "../services/ServiceTokens.js"
import type { Outcome } from "../services/TodoRepository.js"

/** The notify service turned the send away to slow the client down (NotifyThrottled): no attempt counted. */
export interface Throttled {
  readonly _tag: "Throttled"
  readonly todo: ClaimedTodo
  readonly retryAfterMs: number | undefined
  /**
   * `overloaded`: a 503 without Retry-After while other requests were accepted, the whole client's
   * overload; `auth`: the auth service refused the workspace's token (the notify service was not
   * asked); `refused`: the notify service's 429, or 503 with Retry-After.
   */
  readonly kind: RefusalKind
}

export type RefusalKind = "refused" | "overloaded" | "auth"

/** A sent todo's outcome, with the service's own time for its accepted request (when the client measures it). */
export type Sent = Extract<Outcome, { readonly _tag: "Sent" }> & { readonly serviceMs?: number | undefined }

export interface NotifyHooks {
  /** The turns of each request under the rate limit, when there is one. */
  readonly turns?: Turns | undefined
  /** Told of each transient failure (the circuit breaker, the concurrency limit). */
  readonly onTransientFailure?: Effect.Effect<void>
  /** The run's telemetry (live or no-op, chosen once per run, not looked up per todo). */
  readonly telemetry: Telemetry
  /** Told of the retries within the run of each accepted send. */
  readonly onRetried?: (retries: number) => void
  /** The auth service refused the job's own credentials (no todo's failure): what becomes of the todo. */
  readonly onRejected: (error: ClientRejected, todo: ClaimedTodo) => Effect.Effect<Outcome>
}

/** A notification that failed: logged for this todo alone, and tried again later or dead-lettered. */
const notificationFailed = Effect.fnUntraced(function*(
  todo: ClaimedTodo,
  error: NotificationError,
  retry: RetryPolicy,
  hooks: NotifyHooks
) {
  yield* hooks.telemetry.counted(Metrics.failed, undefined)
  if (error.transient && hooks.onTransientFailure !== undefined) yield* hooks.onTransientFailure
  const attempts = todo.attempts + 1
  const next = afterFailure(attempts, retry)
  const outcome: Outcome = next._tag === "DeadLetter"
    ? { _tag: "DeadLetter", todo, attempts, status: error.status, error: error.message }
    : { _tag: "RetryLater", todo, attempts, retryIn: next.delay, status: error.status, error: error.message }
  yield* Effect.logError("Could not send delayed todo. Skipping it...").pipe(
    Effect.annotateLogs({
      workspaceId: todo.workspaceId,
      todoId: todo.id,
      error: error.message,
      attempt: attempts,
      ...(outcome._tag === "RetryLater"
        ? { nextAttemptAt: DateTime.formatIso(DateTime.addDuration(yield* DateTime.now, outcome.retryIn)) }
        : { deadLetter: true })
    })
  )
  if (outcome._tag === "DeadLetter") yield* hooks.telemetry.counted(Metrics.deadLetters, undefined)
  hooks.onRetried?.(error.retries ?? 0)
  return outcome
})

/**
 * Sends one claimed todo's notification (see the module comment). The client's credentials being
 * refused is not the todo's failure: `hooks.onRejected` decides (the run stops). Combinators and
 * plain functions, no generator, on this path taken once per notification; its span is the run's
 * telemetry's to add (notifyTodo below).
 */
const notify = (
  client: NotificationClient["Type"],
  todo: ClaimedTodo,
  retry: RetryPolicy,
  hooks: NotifyHooks
): Effect.Effect<Outcome | Throttled> =>
  Effect.matchEffect(
    client.send({
      workspaceId: todo.workspaceId,
      todoId: todo.id,
      message: delayMessage(todo),
      idempotencyKey: idempotencyKey(todo)
    }, hooks.turns),
    {
      onSuccess: (delivery) => {
        hooks.onRetried?.(delivery.retries)
        return hooks.telemetry.counted(Metrics.sent, { _tag: "Sent", todo, serviceMs: delivery.serviceMs } satisfies Sent)
      },
      onFailure: (error): Effect.Effect<Outcome | Throttled> =>
        error._tag === "ClientRejected"
          ? hooks.onRejected(error, todo)
          : error._tag === "NotifyThrottled"
          ? Effect.succeed({
              _tag: "Throttled",
              todo,
              retryAfterMs: error.retryAfterMs,
              kind: error.byAuth === true ? "auth" : error.overloaded === true ? "overloaded" : "refused"
            })
          : error._tag === "NotSent"
          ? Effect.succeed({ _tag: "Released", todo })
          : notificationFailed(todo, error, retry, hooks)
    }
  )

/** `notify` for a run's telemetry: traced as "sendDelayNotification" with the todo's keys when traces leave the process. */
export const notifyTodo = (telemetry: Telemetry) =>
  telemetry.traced("sendDelayNotification", notify, (_, todo) => ({ workspaceId: todo.workspaceId, todoId: todo.id }))
