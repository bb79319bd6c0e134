/**
 * How a notification can go wrong, as the NotificationClient reports it: not accepted
 * (NotificationError, with what a person investigating needs), or turned away to slow the client
 * down (NotifyThrottled), or never sent because the run stopped before its turn (NotSent); and
 * the Retry-After that comes with the first two.
 */
import { Schema } from "effect"
import { TodoId, WorkspaceId } from "../domain/Todo.js"

/** A notification that was not accepted; carries what a person investigating needs. */
export class NotificationError extends Schema.TaggedError<NotificationError>()("NotificationError", {
  workspaceId: WorkspaceId,
  todoId: Schema.optional(TodoId),
  status: Schema.optional(Schema.Number),
  reason: Schema.String,
  /** How long the service asked to wait (a 429's or 503's Retry-After), in milliseconds. */
  retryAfterMs: Schema.optional(Schema.Number),
  /** Requests sent again within the run before giving up. */
  retries: Schema.optional(Schema.Number),
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.status === undefined ? this.reason : `HTTP ${this.status}: ${this.reason}`
  }

  /** Worth trying again soon: no answer (connection error, timeout), 408, 429 or 5xx. */
  get transient(): boolean {
    return this.status === undefined || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

/**
 * The notify service turned the notification away to slow its client down: a 429, or a 503 with
 * Retry-After. Back-pressure, not a failure of the todo: no attempt is counted for it.
 */
export class NotifyThrottled extends Schema.TaggedError<NotifyThrottled>()("NotifyThrottled", {
  workspaceId: WorkspaceId,
  todoId: TodoId,
  status: Schema.Number,
  /** How long the service asked to wait (its Retry-After), in milliseconds, when it said. */
  retryAfterMs: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `HTTP ${this.status}: the notify service asked to slow down` +
      (this.retryAfterMs === undefined ? "" : ` (Retry-After ${this.retryAfterMs} ms)`)
  }
}

/** The run stopped before the send's first request had its turn under the rate: nothing was sent. */
export class NotSent extends Schema.TaggedError<NotSent>()("NotSent", {
  workspaceId: WorkspaceId,
  todoId: TodoId
}) {
  override get message(): string {
    return "Not sent: the run is stopping"
  }
}

/** An answer that throttles its client: a 429, or a 503 that says when to come back. */
export const throttles = (status: number, retryAfterMs: number | undefined): boolean =>
  status === 429 || (status === 503 && retryAfterMs !== undefined)

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP date. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
