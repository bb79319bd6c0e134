/**
 * The live ServiceTokens over HTTP: fetched once per workspace and kept until shortly before they
 * expire (RFC 6749's expires_in, or a JWT's exp), concurrent fetches for one workspace shared, the
 * tokens in hand off the V8 heap (lib/TokenStore).
 */
import { Cause, Config, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import type { WorkspaceId } from "../../domain/Todo.js"
import { Env } from "../../lib/Environment.js"
import { describeCause } from "../../lib/Errors.js"
import { type Answer, dispatchPost, type Exchange, ExchangeError, HttpDispatcher, maxAnswerBytes, postThen } from "../../lib/HttpExchange.js"
import { logDebugWith } from "../../lib/Log.js"
import { currentTelemetry, unobserved } from "../../lib/Telemetry.js"
import { secretConfig } from "../../lib/Secrets.js"
import { requestTimeout, servicesUrl } from "../../lib/ServicesConfig.js"
import { makeTokenStore } from "../../lib/TokenStore.js"
import { BearerToken, ClientRejected, excerpt, ServiceTokens, TokenError } from "../ServiceTokens.js"
import { tokenAnswerOf, usedUntil } from "./TokenAnswer.js"

/**
 * Tokens kept at once, and the bytes they may take off the V8 heap (lib/TokenStore): a backlog over
 * up to this many workspaces asks for each token once (fewer when tokens are longer than 128
 * bytes); beyond it the oldest are dropped and fetched again when needed. Each kept token also
 * holds its workspace id and a Map entry on the heap, about 80 bytes: 5 MB at most.
 */
const tokensKept = 65_536
const tokenBytes = 8 * 1024 * 1024

/** Token requests for one workspace that may fail in one run; after that its sends fail at once. */
const tokenFailuresPerWorkspace = 3

/** A token and until when it is used (epoch milliseconds, by the Clock). */
interface CachedToken {
  readonly token: BearerToken
  readonly until: number
}

export const ServiceTokensLive = Layer.effect(
  ServiceTokens,
  Effect.gen(function*() {
    const baseUrl = yield* servicesUrl
    const clientId = yield* Config.string(Env.CLIENT_ID).pipe(Config.validate({ message: "Expected a non-empty client id", validation: (s) => s.length > 0 }))
    const clientSecret = yield* secretConfig(Env.CLIENT_SECRET)
    const dispatcher = yield* HttpDispatcher
    const deadline = Duration.toMillis(yield* requestTimeout)
    const url = new URL(`${baseUrl}/auth/token`)
    const clock = yield* Effect.clock
    const basic = `Basic ${Buffer.from(`${clientId}:${Redacted.value(clientSecret)}`).toString("base64")}`

    // The query as URLSearchParams writes it, without one per fetch (a fetch per two
    // notifications over N/2 workspaces).
    const { origin, pathname } = url
    const exchangeOf = (workspaceId: WorkspaceId): Exchange => ({
      origin,
      path: `${pathname}?grant_type=client_credentials&scope=${encodeURIComponent(`workspaceId=${workspaceId}`)}`,
      headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded;charset=utf-8" },
      body: "",
      deadline
    })
    const failed = (workspaceId: WorkspaceId, reason: string, status?: number, cause?: unknown) =>
      new TokenError({
        workspaceId,
        reason,
        ...(status === undefined ? {} : { status }),
        ...(cause === undefined ? {} : { cause })
      })
    const noAnswer = (workspaceId: WorkspaceId, error: ExchangeError) =>
      failed(
        workspaceId,
        error.timedOut ? `No answer from the auth service within ${Duration.format(Duration.millis(deadline))}` : describeCause(error.cause),
        undefined,
        error.cause
      )

    // What an answer of the auth service gives: a token to keep, or why not.
    const judge = (workspaceId: WorkspaceId, answer: Answer): Exit.Exit<CachedToken, TokenError | ClientRejected> => {
      // The body holds the token: it is never logged, and only a failure's excerpt is kept.
      const body = answer.body
      if (answer.status === 401 || answer.status === 403 || /"invalid_client"/.test(body.slice(0, 4096))) {
        return Exit.fail(new ClientRejected({ clientId, status: answer.status }))
      }
      if (answer.status < 200 || answer.status >= 300) return Exit.fail(failed(workspaceId, excerpt(body), answer.status))
      if (answer.truncated) {
        return Exit.fail(failed(workspaceId, `the auth service's answer is larger than ${maxAnswerBytes / 1024} KiB`, answer.status))
      }
      const given = tokenAnswerOf(body)
      if (given === undefined) {
        return Exit.fail(failed(workspaceId, "the auth service answered without an access_token", answer.status))
      }
      return Exit.succeed({ token: BearerToken.of(given.accessToken), until: usedUntil(given, clock.unsafeCurrentTimeMillis()) })
    }

    // The fetch with its debug lines, under a span when traces leave the process.
    const telemetry = yield* currentTelemetry
    const fetchLogged = telemetry.traced("ServiceTokens.fetch", (workspaceId: WorkspaceId) =>
      logDebugWith("Request", () => ({ method: "POST", url: url.href, workspaceId })).pipe(
        Effect.zipRight(postThen(dispatcher, exchangeOf(workspaceId), (answer) =>
          Effect.zipRight(
            logDebugWith("Response", () => ({ status: answer.status, method: "POST", url: url.href })),
            judge(workspaceId, answer)
          ))),
        Effect.catchTag("ExchangeError", (error) => Effect.fail(noAnswer(workspaceId, error)))
      ))

    // Tokens in hand, read first on every send. Failed token requests by workspace, and the
    // last failure: at most a few requests per workspace and run, whatever its backlog (each
    // later send fails at once with that error).
    const store = makeTokenStore(tokensKept, tokenBytes)
    const failures = new Map<WorkspaceId, { count: number; last: TokenError }>()

    // Fetches in flight, by workspace, with the sends waiting for each: concurrent sends for
    // one workspace share one fetch, all resumed with its result as it comes, which is kept
    // (or counted) once. With nothing to log or trace, the fetch is the exchange alone, tied to
    // no fiber: Effect's Cache, then a Deferred with an onExit per fetch, and a Schema decode of
    // the answer, cost more than the exchange itself over many workspaces, where a token serves
    // one or two notifications (bench/NOTES.md, "Profile: hot spots found and what was changed").
    type Result = Exit.Exit<BearerToken, TokenError | ClientRejected>
    type Waiting = (result: Result) => void
    const inFlight = new Map<WorkspaceId, Array<Waiting>>()
    const settle = (workspaceId: WorkspaceId, waiting: Array<Waiting>, exit: Exit.Exit<CachedToken, TokenError | ClientRejected>) => {
      inFlight.delete(workspaceId)
      let result: Result
      if (Exit.isSuccess(exit)) {
        store.set(workspaceId, exit.value.token.header(), exit.value.until)
        result = Exit.succeed(exit.value.token)
      } else {
        const error = Cause.failureOption(exit.cause)
        // A 429 is the auth service asking to slow down, not a failure: the run waits and asks again.
        if (Option.isSome(error) && error.value._tag === "TokenError" && error.value.status !== 429) {
          failures.set(workspaceId, { count: (failures.get(workspaceId)?.count ?? 0) + 1, last: error.value })
        }
        result = Exit.failCause(exit.cause)
      }
      for (const resume of waiting) resume(result)
    }
    const fetchShared = (workspaceId: WorkspaceId) =>
      Effect.withFiberRuntime<BearerToken, TokenError | ClientRejected>((fiber) => {
        const pending = inFlight.get(workspaceId)
        if (pending !== undefined) return Effect.async((resume) => void pending.push(resume))
        const waiting: Array<Waiting> = []
        inFlight.set(workspaceId, waiting)
        if (!unobserved(telemetry, fiber)) {
          return fetchLogged(workspaceId).pipe(
            Effect.onExit((exit) => Effect.sync(() => settle(workspaceId, waiting, exit))),
            Effect.map((cached) => cached.token)
          )
        }
        return Effect.async((resume) => {
          waiting.push(resume)
          dispatchPost(dispatcher, exchangeOf(workspaceId), (outcome) =>
            settle(workspaceId, waiting, outcome instanceof ExchangeError ? Exit.fail(noAnswer(workspaceId, outcome)) : judge(workspaceId, outcome)))
        })
      })

    const inHand = (workspaceId: WorkspaceId) => {
      const header = store.get(workspaceId, clock.unsafeCurrentTimeMillis())
      return header === undefined ? undefined : BearerToken.ofHeader(header)
    }
    const get = (workspaceId: WorkspaceId) =>
      Effect.suspend(() => {
        const token = inHand(workspaceId)
        if (token !== undefined) return Effect.succeed(token)
        const failed = failures.get(workspaceId)
        if (failed !== undefined && failed.count >= tokenFailuresPerWorkspace) return Effect.fail(failed.last)
        return fetchShared(workspaceId)
      })
    const invalidate = (workspaceId: WorkspaceId) => Effect.sync(() => store.delete(workspaceId))

    return ServiceTokens.of({ get, inHand, invalidate })
  })
)
