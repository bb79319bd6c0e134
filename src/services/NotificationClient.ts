import { Clock, Context, Duration, Effect, Either, Layer, Metric, Random, Redacted, Schema } from "effect"
import { TodoId, WorkspaceId } from "../domain/Todo.js"
import { describeCause } from "../lib/Errors.js"
import { HttpDispatcher, post } from "../lib/HttpExchange.js"
import { logDebugWith } from "../lib/Log.js"
import { countOne, Metrics, TelemetryEnabled } from "../lib/Metrics.js"
import { retryConfig, type RetryWithinRun, servicesUrl } from "../lib/ServicesConfig.js"
import { type ClientRejected, excerpt, ServiceTokens } from "./ServiceTokens.js"

/** One message for one workspace, about one todo. */
export interface Notification {
  readonly workspaceId: WorkspaceId
  readonly todoId: TodoId
  readonly message: string
  /** Sent as Idempotency-Key: the notify service creates one notification per key. */
  readonly idempotencyKey: string
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

/** An accepted notification: how many requests it took beyond the first. */
export interface Delivery {
  readonly retries: number
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP date. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

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

/**
 * Tries `attempt` again on transient failures: after the Retry-After the service gave, else after
 * an exponential backoff with full jitter; at most `retries` more times and `budget` of waiting.
 */
export const retryTransient = <E>(attempt: Effect.Effect<void, NotificationError | E>, policy: RetryWithinRun) =>
  Effect.gen(function*() {
    let waited = 0
    for (let retry = 1;; retry++) {
      const result = yield* Effect.either(attempt)
      if (Either.isRight(result)) return { retries: retry - 1 } satisfies Delivery
      // Anything but a NotificationError (the client refused) is not this notification's to retry.
      if (!(result.left instanceof NotificationError)) return yield* Effect.fail(result.left)
      const error = result.left
      const giveUp = retry === 1 ? error : withRetries(error, retry - 1)
      if (!error.transient || retry > policy.retries) return yield* giveUp
      const backoff = Duration.toMillis(policy.base) * 2 ** (retry - 1)
      const delay = error.retryAfterMs ?? Math.round(backoff * (yield* Random.next))
      if (waited + delay > Duration.toMillis(policy.budget)) return yield* giveUp
      waited += delay
      yield* countOne(Metrics.retried)
      yield* logDebugWith("Retrying notification", () => ({
        workspaceId: error.workspaceId,
        todoId: error.todoId,
        error: error.message,
        retry,
        delayMs: delay
      }))
      yield* Effect.sleep(Duration.millis(delay))
    }
  })

/** Live client: POST {SERVICES_URL}/notify/notifications with the workspace's bearer token. */
/** A host name or address of this machine (loopback), where plain http:// stays on the machine. */
const isLoopback = (hostname: string) =>
  hostname === "localhost" || hostname.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(hostname) ||
  hostname === "[::1]"

const makeHttp = Effect.gen(function*() {
  const url = new URL(`${yield* servicesUrl}/notify/notifications`)
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    yield* Effect.logWarning(
      "SERVICES_URL is plain http:// to another machine: the client credentials and the tokens travel in clear text. Use https://."
    ).pipe(Effect.annotateLogs({ servicesHost: url.host }))
  }
  const dispatcher = yield* HttpDispatcher
  const tokens = yield* ServiceTokens
  const policy = yield* retryConfig
  const deadline = Duration.toMillis(policy.timeout)
  const timeoutText = Duration.format(policy.timeout)
  const telemetry = yield* TelemetryEnabled

  const failed = (notification: Notification, reason: string, extra: { status?: number; cause?: unknown } = {}) =>
    new NotificationError({ workspaceId: notification.workspaceId, todoId: notification.todoId, reason, ...extra })

  const postOnce = Effect.fnUntraced(function*(notification: Notification) {
    const token = yield* tokens.get(notification.workspaceId)
    const body = JSON.stringify({ message: notification.message })
    yield* logDebugWith("Request", () => ({
      workspaceId: notification.workspaceId,
      todoId: notification.todoId,
      method: "POST",
      url: url.href,
      body: { message: notification.message }
    }))
    const request = post(dispatcher, {
      origin: url.origin,
      path: url.pathname,
      headers: {
        authorization: `Bearer ${Redacted.value(token)}`,
        "content-type": "application/json",
        "idempotency-key": notification.idempotencyKey
      },
      body,
      deadline
    })
    const answer = yield* (telemetry ? Metric.trackDurationWith(request, Metrics.notifyLatency, Duration.toMillis) : request)
    yield* logDebugWith("Response", () => ({
      workspaceId: notification.workspaceId,
      todoId: notification.todoId,
      status: answer.status,
      method: "POST",
      url: url.href,
      body: excerpt(answer.body)
    }))
    return answer
  })

  const attempt = (notification: Notification, paced: Effect.Effect<void>) =>
    Effect.gen(function*() {
      yield* paced
      let answer = yield* postOnce(notification)
      if (answer.status === 401) {
        // The token expired or was revoked early: fetch a new one and try once more.
        yield* tokens.invalidate(notification.workspaceId)
        yield* paced
        answer = yield* postOnce(notification)
      }
      if (answer.status >= 200 && answer.status < 300) return
      const retryAfter = answer.headers["retry-after"]
      const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, yield* Clock.currentTimeMillis)
      return yield* new NotificationError({
        workspaceId: notification.workspaceId,
        todoId: notification.todoId,
        status: answer.status,
        reason: excerpt(answer.body),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs })
      })
    }).pipe(
      Effect.catchTags({
        TokenError: (error) =>
          failed(notification, error.message, { ...(error.status === undefined ? {} : { status: error.status }), cause: error }),
        // No answer in time, no connection, or the connection broke mid-answer: whether it got
        // through is unknown, so it is transient (a resend carries the same Idempotency-Key).
        ExchangeError: (error) =>
          failed(
            notification,
            error.timedOut
              ? `No answer from the notify service within ${timeoutText}`
              : error.answered
              ? `The connection broke while reading the notify service's answer: ${describeCause(error.cause)}`
              : `Could not reach the notify service: ${describeCause(error.cause)}`,
            { cause: error.cause }
          )
      })
    )

  const sendOne = function*(notification: Notification, pace?: Effect.Effect<void>) {
    let requests = 0
    // Every request after the first waits its turn (the caller paced the first).
    const paced = pace === undefined ? Effect.void : Effect.suspend(() => (requests++ > 0 ? pace : Effect.void))
    return yield* retryTransient(attempt(notification, paced), policy)
  }
  // Traced only when traces leave the process (see sendDelayNotification).
  const send = telemetry ? Effect.fn("NotificationClient.send")(sendOne) : Effect.fnUntraced(sendOne)

  return NotificationClient.of({ send, longestSend: longestSend(policy) })
})

export class NotificationClient extends Context.Tag("app/NotificationClient")<NotificationClient, {
  /**
   * Fails with ClientRejected when the auth service refuses the job's own credentials (no todo's
   * fault). `pace` is waited on before each request to the notify service after the first (its
   * retries within the run, the re-post after a 401), so that a rate limit counts requests; the
   * caller paces the first.
   */
  readonly send: (
    notification: Notification,
    pace?: Effect.Effect<void>
  ) => Effect.Effect<Delivery, NotificationError | ClientRejected>
  /** The longest one `send` can take, its retries within the run included. */
  readonly longestSend: Duration.Duration
}>() {
  /** The live client over HTTP; needs the HttpDispatcher (undici with keep-alive, layers/HttpLive). */
  static readonly layer = Layer.effect(NotificationClient, makeHttp).pipe(Layer.provide(ServiceTokens.layer))

  /**
   * A client that records what it is sent and fails, with the given HTTP status, for the given
   * todos; read the record through `SentNotifications`.
   */
  static readonly testLayer = (
    options: { readonly failFor?: ReadonlyArray<string>; readonly status?: number } = {}
  ): Layer.Layer<NotificationClient | SentNotifications> =>
    Layer.effectContext(Effect.sync(() => {
      const sent: Array<Notification> = []
      const failFor = new Set(options.failFor ?? [])
      const client = NotificationClient.of({
        longestSend: Duration.zero,
        send: (notification) =>
          failFor.has(notification.todoId)
            ? Effect.fail(
              new NotificationError({
                workspaceId: notification.workspaceId,
                todoId: notification.todoId,
                status: options.status ?? 500,
                reason: "Internal Server Error"
              })
            )
            : Effect.sync(() => {
              sent.push(notification)
              return { retries: 0 }
            })
      })
      return Context.make(NotificationClient, client).pipe(Context.add(SentNotifications, { all: Effect.sync(() => [...sent]) }))
    }))
}

/** What a test client was sent, in order (test layers only). */
export class SentNotifications extends Context.Tag("test/SentNotifications")<SentNotifications, {
  readonly all: Effect.Effect<ReadonlyArray<Notification>>
}>() {}
