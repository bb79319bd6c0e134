/**
 * The live NotificationClient over HTTP: POST {SERVICES_URL}/notify/notifications with the
 * workspace's bearer token and the Idempotency-Key, within a deadline, retried within the run on
 * transient failures (Retry.ts), a 401 answered with a new token. A throttled answer (429, or 503
 * with Retry-After) is not retried here: it ends the send as NotifyThrottled, for the run to slow
 * down and send the todo again later. So does a 503 without Retry-After while the service accepts
 * other requests (an answer accepted within `overloadWindowMs`): a proxy's or a server's "full", as
 * Envoy and nginx answer it. A 503 with nothing accepted for that long is a failure like a 500, for
 * the retries and the outage breaker (docs/design.md, "Overload is not an outage").
 */
import { Clock, Duration, Effect, Layer } from "effect"
import { describeCause } from "../../lib/Errors.js"
import { type Answer, type ExchangeError, HttpDispatcher, post, postThen } from "../../lib/HttpExchange.js"
import { debugOn } from "../../lib/Log.js"
import { retryConfig, servicesUrl } from "../../lib/ServicesConfig.js"
import { currentTelemetry, Metrics, unobserved } from "../../lib/Telemetry.js"
import {
  type Delivery,
  type Notification,
  NotificationClient,
  NotificationError,
  NotifyThrottled,
  type SendError,
  type Turns
} from "../NotificationClient.js"
import { type BearerToken, excerpt, ServiceTokens, type TokenError } from "../ServiceTokens.js"
import { ServiceTokensLive } from "../ServiceTokens/Live.js"
import { parseRetryAfter, throttles } from "./Answers.js"
import { delivered, longestSend, pacedBy, type Paced, retryTransient } from "./Retry.js"

/** A 503 without Retry-After is the service's overload, not its failure, within this long of an accepted answer. */
export const overloadWindowMs = 5_000

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
  const clock = yield* Effect.clock
  // When the service last accepted a notification (epoch ms, by the Clock).
  let lastAccepted = -Infinity

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
      const retryAfter = parseRetryAfter(answer.header("retry-after"), now)
      const retryAfterMs = retryAfter._tag === "Delay" ? retryAfter.ms : undefined
      const overloaded = answer.status === 503 && retryAfter._tag !== "Delay" && now - lastAccepted <= overloadWindowMs
      if (throttles(answer.status, retryAfter) || overloaded) {
        return new NotifyThrottled({
          workspaceId: notification.workspaceId,
          todoId: notification.todoId,
          status: answer.status,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          ...(overloaded ? { overloaded } : {})
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
  const accepted = (answer: Answer) => {
    if (answer.status < 200 || answer.status >= 300) return false
    lastAccepted = clock.unsafeCurrentTimeMillis()
    return true
  }

  // What one answer means for the try it ends: accepted (the service's time for it), refused, or
  // (401) the token expired or was revoked early: a new token is fetched and the notification
  // posted once more.
  const judge = (notification: Notification, paced: Paced, answer: Answer): Effect.Effect<number, NotificationError | NotifyThrottled | SendError | TokenError | ExchangeError> => {
    if (accepted(answer)) return Effect.succeed(answer.serviceMs)
    if (answer.status !== 401) return refused(notification, answer)
    return tokens.invalidate(notification.workspaceId).pipe(
      Effect.zipRight(postOnce(notification, paced)),
      Effect.flatMap((again) => accepted(again) ? Effect.succeed(again.serviceMs) : refused(notification, again))
    )
  }

  const attempt = (notification: Notification, paced: Paced) =>
    Effect.flatMap(postOnce(notification, paced), (answer) => judge(notification, paced, answer))

  // What went wrong with one try, as this notification's failure (ClientRejected stays the run's).
  const classify = (notification: Notification) => (error: SendError | TokenError | ExchangeError) => {
    switch (error._tag) {
      case "TokenError":
        // The auth service asking the job to slow down is back-pressure too: nothing is charged.
        if (error.status === 429) {
          return new NotifyThrottled({ workspaceId: notification.workspaceId, todoId: notification.todoId, status: 429, byAuth: true })
        }
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
  // between them, each a step per notification (bench/NOTES.md, "Profile: hot spots found and what was changed"); what follows an answer
  // that is not accepted is the same as in `attempt`.
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
        (answer) => accepted(answer) ? Effect.succeed(delivered(0, answer.serviceMs)) : Effect.map(judge(notification, paced, answer), (ms) => delivered(0, ms))
      )
      return retryTransient(again, policy, classify(notification), telemetry, first)
    })
  // Traced only when traces leave the process (see lib/Telemetry).
  const send = telemetry.traced("NotificationClient.send", sendOne)

  return NotificationClient.of({ send, longestSend: longestSend(policy) })
})

/** The live client over HTTP; needs the HttpDispatcher (undici with keep-alive, layers/HttpLive). */
export const NotificationClientLive = Layer.effect(NotificationClient, makeHttp).pipe(Layer.provide(ServiceTokensLive))
