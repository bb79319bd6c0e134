/**
 * The port to the notify service: one notification sent for one todo, with the workspace's
 * token and the todo's Idempotency-Key, and how a send can end. Its live layer over HTTP is
 * NotificationClient/Live.ts.
 */
import { Context, type Duration, type Effect, Schema } from "effect"
import { TodoId, WorkspaceId } from "../domain/Todo.js"
import type { ClientRejected } from "./ServiceTokens.js"

/** Sends delay notifications to the notify service. */
export class NotificationClient extends Context.Tag("app/NotificationClient")<NotificationClient, {
  /**
   * Fails with ClientRejected when the auth service refuses the job's own credentials (no todo's
   * fault), with NotifyThrottled when the notify service asks its client to slow down. Under a
   * rate limit, each request to the notify service waits for one of `turns`, so that the limit
   * counts requests; NotSent when the first turn is refused.
   */
  readonly send: (notification: Notification, turns?: Turns) => Effect.Effect<Delivery, SendError>
  /** The longest one `send` can take, its retries within the run included. */
  readonly longestSend: Duration.Duration
}>() {}

/** How a send can end without a delivery. */
export type SendError = NotificationError | NotifyThrottled | NotSent | ClientRejected

/** One message for one workspace, about one todo. */
export interface Notification {
  readonly workspaceId: WorkspaceId
  readonly todoId: TodoId
  readonly message: string
  /** Sent as Idempotency-Key: the notify service creates one notification per key. */
  readonly idempotencyKey: string
}

/**
 * A send's turns under a rate limit, each waited on just before a request leaves, its token in
 * hand (a token fetched after the turn would let the request leave late and bunch with the turns
 * after it).
 */
export interface Turns {
  /** The first request's: false when the run is stopping, and the send ends NotSent. */
  readonly first: Effect.Effect<boolean>
  /** Each further request's (retries within the run, the re-post after a 401), whatever comes. */
  readonly next: Effect.Effect<void>
}

/** An accepted notification: how many requests it took beyond the first, and the service's time for the last. */
export interface Delivery {
  readonly retries: number
  /**
   * The notify service's own time for the accepted request, in milliseconds (HttpExchange's
   * Answer); a client with no such measure leaves it out, and the run times the whole send.
   */
  readonly serviceMs?: number
}

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
 * Retry-After, or (`overloaded`) a 503 without one while other requests are being accepted (a
 * proxy's overload answer). Back-pressure, not a failure of the todo: no attempt is counted for it.
 */
export class NotifyThrottled extends Schema.TaggedError<NotifyThrottled>()("NotifyThrottled", {
  workspaceId: WorkspaceId,
  todoId: TodoId,
  status: Schema.Number,
  /** How long the service asked to wait (its Retry-After, read by RFC 9110), in milliseconds, when it said. */
  retryAfterMs: Schema.optional(Schema.Number),
  /** A 503 without Retry-After: the service (or a proxy before it) is full, for the whole client. */
  overloaded: Schema.optional(Schema.Boolean),
  /** The auth service's 429: the workspace's token was refused, the notify service was not asked. */
  byAuth: Schema.optional(Schema.Boolean)
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
