import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Config, Context, Duration, Effect, Either, Layer, Metric, Random, Schema } from "effect"
import { TodoId, WorkspaceId } from "../domain/Todo.js"
import { describeCause } from "../lib/Errors.js"
import { logDebugWith } from "../lib/Log.js"
import { countOne, Metrics, TelemetryEnabled } from "../lib/Metrics.js"
import { type ClientRejected, excerpt, servicesUrl, ServiceTokens } from "./ServiceTokens.js"

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

/** undici's headers or body timeout (NOTIFY_TIMEOUT). */
const isTimeout = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause &&
  (cause.code === "UND_ERR_HEADERS_TIMEOUT" || cause.code === "UND_ERR_BODY_TIMEOUT")

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

/** How the live client retries within a run; from NOTIFY_* variables. */
export interface RetryWithinRun {
  /** Each request's limit (NOTIFY_TIMEOUT, default 10 seconds), used in messages. */
  readonly timeout: Duration.Duration
  /** Further tries after the first (NOTIFY_RETRIES, default 3). */
  readonly retries: number
  /** First backoff, doubled each time, with jitter (NOTIFY_RETRY_BASE, default 250 millis). */
  readonly base: Duration.Duration
  /** No retry once the waits would add up to more than this (NOTIFY_RETRY_BUDGET, default 30 seconds). */
  readonly budget: Duration.Duration
}

/**
 * The longest one send can take, its retries included: each try may fetch a token, post, and
 * after a 401 fetch and post once more (four requests, each within the timeout), and the waits
 * between tries add up to at most the budget (none without retries). A claim must outlive this (see the run's lease).
 */
export const longestSend = (policy: RetryWithinRun): Duration.Duration =>
  Duration.sum(Duration.times(policy.timeout, 4 * (policy.retries + 1)), policy.retries > 0 ? policy.budget : Duration.zero)

/** NOTIFY_TIMEOUT: the limit of each request to the notify and auth services (enforced by the HTTP client). */
export const requestTimeout = Config.duration("NOTIFY_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10)))

const retryConfig = Config.all({
  timeout: requestTimeout,
  retries: Config.integer("NOTIFY_RETRIES").pipe(Config.withDefault(3)),
  base: Config.duration("NOTIFY_RETRY_BASE").pipe(Config.withDefault(Duration.millis(250))),
  budget: Config.duration("NOTIFY_RETRY_BUDGET").pipe(Config.withDefault(Duration.seconds(30)))
})

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
const makeHttp = Effect.gen(function*() {
  const url = `${yield* servicesUrl}/notify/notifications`
  // The send is traced as NotificationClient.send; a second span per request from the HTTP
  // client cost about a quarter of the per-notification CPU time (measured, bench/RESULTS.md).
  const http = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerDisabledWhen(() => true))
  const tokens = yield* ServiceTokens
  const policy = yield* retryConfig
  const timeoutText = Duration.format(policy.timeout)
  const telemetry = yield* TelemetryEnabled

  const post = Effect.fnUntraced(function*(notification: Notification) {
    const token = yield* tokens.get(notification.workspaceId)
    const body = { message: notification.message }
    const todo = { workspaceId: notification.workspaceId, todoId: notification.todoId }
    yield* logDebugWith("Request", () => ({ ...todo, method: "POST", url, body }))
    const request = http.execute(
      HttpClientRequest.post(url).pipe(
        HttpClientRequest.bearerToken(token),
        HttpClientRequest.setHeader("idempotency-key", notification.idempotencyKey),
        HttpClientRequest.bodyUnsafeJson(body)
      )
    )
    const response = yield* (telemetry ? Metric.trackDurationWith(request, Metrics.notifyLatency, Duration.toMillis) : request)
    // Always read the body, so the keep-alive connection goes back to the pool.
    const text = yield* response.text
    yield* logDebugWith("Response", () => ({ ...todo, status: response.status, method: "POST", url, body: excerpt(text) }))
    return { status: response.status, body: text, retryAfter: response.headers["retry-after"] }
  })

  const attempt = Effect.fnUntraced(
    function*(notification: Notification) {
      let response = yield* post(notification)
      if (response.status === 401) {
        // The token expired or was revoked early: fetch a new one and try once more.
        yield* tokens.invalidate(notification.workspaceId)
        response = yield* post(notification)
      }
      if (response.status >= 200 && response.status < 300) return
      const retryAfterMs = parseRetryAfter(response.retryAfter, yield* Clock.currentTimeMillis)
      return yield* new NotificationError({
        workspaceId: notification.workspaceId,
        todoId: notification.todoId,
        status: response.status,
        reason: excerpt(response.body),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs })
      })
    },
    (effect, notification) =>
      Effect.catchTags(effect, {
        TokenError: (error) =>
          new NotificationError({
            workspaceId: notification.workspaceId,
            todoId: notification.todoId,
            reason: error.message,
            ...(error.status === undefined ? {} : { status: error.status }),
            cause: error
          }),
        RequestError: (error) =>
          new NotificationError({
            workspaceId: notification.workspaceId,
            todoId: notification.todoId,
            reason: isTimeout(error.cause)
              ? `No answer from the notify service within ${timeoutText}`
              : `Could not reach the notify service: ${describeCause(error)}`,
            cause: error
          }),
        // The connection broke mid-answer: whether it got through is unknown, so it is transient
        // (a resend carries the same Idempotency-Key).
        ResponseError: (error) =>
          new NotificationError({
            workspaceId: notification.workspaceId,
            todoId: notification.todoId,
            reason: isTimeout(error.cause)
              ? `No answer from the notify service within ${timeoutText}`
              : `The connection broke while reading the notify service's answer (HTTP ${error.response.status}): ${error.message}`,
            cause: error
          })
      })
  )

  const send = Effect.fn("NotificationClient.send")(function*(notification: Notification) {
    return yield* retryTransient(attempt(notification), policy)
  })

  return NotificationClient.of({ send, longestSend: longestSend(policy) })
})

export class NotificationClient extends Context.Tag("app/NotificationClient")<NotificationClient, {
  /** Fails with ClientRejected when the auth service refuses the job's own credentials (no todo's fault). */
  readonly send: (notification: Notification) => Effect.Effect<Delivery, NotificationError | ClientRejected>
  /** The longest one `send` can take, its retries within the run included. */
  readonly longestSend: Duration.Duration
}>() {
  /** The live client over HTTP; needs an HttpClient (undici with keep-alive in MainLive). */
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
