/**
 * The port to the notify service and its live layer over HTTP: one notification POSTed with the
 * workspace's token and its Idempotency-Key, within a deadline, retried within the run on
 * transient failures, a 401 answered with a new token. A throttled answer (429, or 503 with
 * Retry-After) is not retried here: it ends the send as NotifyThrottled, for the run to slow down
 * and send the todo again later.
 */
import { Clock, Context, Duration, Effect, Layer, Random } from "effect"
import type { TodoId, WorkspaceId } from "../domain/Todo.js"
import { describeCause } from "../lib/Errors.js"
import { type Answer, type ExchangeError, HttpDispatcher, post, postThen } from "../lib/HttpExchange.js"
import { debugOn, logDebugWith } from "../lib/Log.js"
import { currentTelemetry, Metrics, type Telemetry, unobserved } from "../lib/Telemetry.js"
import { NotificationError, NotSent, NotifyThrottled, parseRetryAfter, throttles } from "./NotifyErrors.js"
import { retryConfig, type RetryWithinRun, servicesUrl } from "../lib/ServicesConfig.js"
import { type BearerToken, type ClientRejected, excerpt, ServiceTokens, type TokenError } from "./ServiceTokens.js"

export { NotificationError, NotifyThrottled, NotSent, parseRetryAfter } from "./NotifyErrors.js"

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

/** An accepted notification: how many requests it took beyond the first. */
export interface Delivery {
  readonly retries: number
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

/** What a request waits on before it leaves, under a rate limit. */
type Paced = Effect.Effect<void, NotSent> | undefined

/** The wait before each request of one send: its first turn (refused: NotSent), then the next ones. */
const pacedBy = (turns: Turns, notification: Notification): Paced => {
  let requests = 0
  const first = Effect.flatMap(turns.first, (go) =>
    go ? Effect.void : new NotSent({ workspaceId: notification.workspaceId, todoId: notification.todoId }))
  return Effect.suspend(() => (requests++ > 0 ? turns.next : first))
}

/** The delivery of a send that its first request completed. */
const firstTime: Delivery = { retries: 0 }
const deliveredFirstTime = Effect.succeed(firstTime)

/**
 * Tries `attempt` again on transient failures: after the Retry-After the service gave, else after
 * an exponential backoff with full jitter; at most `retries` more times and `budget` of waiting.
 * Written as combinators, not a generator: its success path runs once per notification.
 */
export const retryTransient = <E, F>(
  attempt: Effect.Effect<void, E>,
  policy: RetryWithinRun,
  /** Makes a failure this notification's (a NotificationError), or leaves it the caller's. */
  classify: (error: E) => NotificationError | F,
  telemetry: Telemetry,
  /** The first try, when it has a form of its own (the client's shorter one); else `attempt`. */
  first: Effect.Effect<Delivery, E> = Effect.as(attempt, firstTime)
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
    const delayed = error.retryAfterMs === undefined
      ? Effect.map(Random.next, (r) => Math.round(base * 2 ** (retry - 1) * r))
      : Effect.succeed(error.retryAfterMs)
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
        Effect.zipRight(Effect.catchAll(Effect.as(attempt, { retries: retry }), afterTry(retry + 1, waited + delay)))
      )
    })
  }
  return Effect.catchAll(first, afterTry(1, 0))
}

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
  const telemetry = yield* currentTelemetry

  const failed = (notification: Notification, reason: string, extra: { status?: number; cause?: unknown } = {}) =>
    new NotificationError({ workspaceId: notification.workspaceId, todoId: notification.todoId, reason, ...extra })


  // Read once: URL's getters build a new string on every read.
  const { origin, pathname } = url
  const exchange = (notification: Notification, token: BearerToken) => ({
    origin,
    path: pathname,
    headers: {
      authorization: token.header(),
      "content-type": "application/json",
      "idempotency-key": notification.idempotencyKey
    },
    body: JSON.stringify({ message: notification.message }),
    deadline
  })
  const request = (notification: Notification, token: BearerToken) =>
    telemetry.timed(post(dispatcher, exchange(notification, token)), Metrics.notifyLatency)

  // The request with its debug lines around it (built only when debug logging is on).
  const requestLogged = Effect.fnUntraced(function*(notification: Notification, token: BearerToken) {
    yield* Effect.logDebug("Request").pipe(Effect.annotateLogs({
      workspaceId: notification.workspaceId,
      todoId: notification.todoId,
      method: "POST",
      url: url.href,
      body: { message: notification.message }
    }))
    const answer = yield* request(notification, token)
    yield* Effect.logDebug("Response").pipe(Effect.annotateLogs({
      workspaceId: notification.workspaceId,
      todoId: notification.todoId,
      status: answer.status,
      method: "POST",
      url: url.href,
      body: excerpt(answer.body)
    }))
    return answer
  })

  // One request, after its turn (when paced) once the token is in hand.
  const postOnce = (notification: Notification, paced: Paced) =>
    Effect.flatMap(tokens.get(notification.workspaceId), (token) => {
      const post = Effect.flatMap(debugOn, (debug) => debug ? requestLogged(notification, token) : request(notification, token))
      return paced === undefined ? post : Effect.zipRight(paced, post)
    })

  const refused = (notification: Notification, answer: Answer) =>
    Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<never, NotificationError | NotifyThrottled> => {
      const retryAfterMs = parseRetryAfter(answer.header("retry-after"), now)
      if (throttles(answer.status, retryAfterMs)) {
        return new NotifyThrottled({
          workspaceId: notification.workspaceId,
          todoId: notification.todoId,
          status: answer.status,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs })
        })
      }
      return new NotificationError({
        workspaceId: notification.workspaceId,
        todoId: notification.todoId,
        status: answer.status,
        reason: excerpt(answer.body),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs })
      })
    })
  const accepted = (answer: Answer) => answer.status >= 200 && answer.status < 300

  // What one answer means for the try it ends: accepted, refused, or (401) the token expired or
  // was revoked early: a new token is fetched and the notification posted once more.
  const judge = (notification: Notification, paced: Paced, answer: Answer) => {
    if (accepted(answer)) return Effect.void
    if (answer.status !== 401) return refused(notification, answer)
    return tokens.invalidate(notification.workspaceId).pipe(
      Effect.zipRight(postOnce(notification, paced)),
      Effect.flatMap((again) => accepted(again) ? Effect.void : refused(notification, again))
    )
  }

  const attempt = (notification: Notification, paced: Paced) =>
    Effect.flatMap(postOnce(notification, paced), (answer) => judge(notification, paced, answer))

  // What went wrong with one try, as this notification's failure (ClientRejected stays the run's).
  const classify = (notification: Notification) => (error: SendError | TokenError | ExchangeError) => {
    switch (error._tag) {
      case "TokenError":
        return failed(notification, error.message, { ...(error.status === undefined ? {} : { status: error.status }), cause: error })
      // No answer in time, no connection, or the connection broke mid-answer: whether it got
      // through is unknown, so it is transient (a resend carries the same Idempotency-Key).
      case "ExchangeError":
        return failed(
          notification,
          error.timedOut
            ? `No answer from the notify service within ${timeoutText}`
            : error.answered
            ? `The connection broke while reading the notify service's answer: ${describeCause(error.cause)}`
            : `Could not reach the notify service: ${describeCause(error.cause)}`,
          { cause: error.cause }
        )
      default:
        return error
    }
  }

  // A send's first try has a shorter form when its workspace's token is in hand and nothing is
  // logged or timed (the usual case, once per notification): the post and the judgement of its
  // answer in one step, with no token lookup, log-level read or flatMap of Effect's run loop
  // between them. Each of those was a step per notification (bench/RESULTS.md, item 16); what
  // follows an answer that is not accepted is the same as in `attempt`.
  const sendOne = (notification: Notification, turns?: Turns) =>
    Effect.withFiberRuntime<Delivery, SendError>((fiber) => {
      const paced = turns === undefined ? undefined : pacedBy(turns, notification)
      const token = unobserved(telemetry, fiber) && turns === undefined ? tokens.inHand(notification.workspaceId) : undefined
      // Built only if a try fails (or for the first, without a token in hand or under a rate).
      const again = Effect.suspend(() => attempt(notification, paced))
      if (token === undefined) return retryTransient(again, policy, classify(notification), telemetry)
      const first = postThen(
        dispatcher,
        exchange(notification, token),
        (answer) => accepted(answer) ? deliveredFirstTime : Effect.as(judge(notification, paced, answer), firstTime)
      )
      return retryTransient(again, policy, classify(notification), telemetry, first)
    })
  // Traced only when traces leave the process (see lib/Telemetry).
  const send = telemetry.traced("NotificationClient.send", sendOne)

  return NotificationClient.of({ send, longestSend: longestSend(policy) })
})

/** How a send can end without a delivery. */
export type SendError = NotificationError | NotifyThrottled | NotSent | ClientRejected

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
}>() {
  /** The live client over HTTP; needs the HttpDispatcher (undici with keep-alive, layers/HttpLive). */
  static readonly layer = Layer.effect(NotificationClient, makeHttp).pipe(Layer.provide(ServiceTokens.layer))

}
