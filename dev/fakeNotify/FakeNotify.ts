/**
 * A fake of the auth and notify services (the contract in docs/design.md), for development, the
 * demo, tests and benchmarks. Built on @effect/platform's HttpServer; never part of dist/main.js.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Clock, Effect } from "effect"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { makeWaiters } from "../Waiters.js"
import { type LimitsBehaviour, makeLimits, noLimits } from "./Limits.js"

export interface FakeNotifyBehaviour extends LimitsBehaviour {
  /** Added before every notification's answer, in milliseconds (token requests answer at once). */
  latencyMs: number
  /** Every Nth notification request fails with `failStatus` (0: never). */
  failEvery: number
  /** Notifications about these todo ids always fail with `failStatus`. */
  failTodos: Array<string>
  failStatus: number
  /** The first N requests for each message fail with `failStatus` (then it succeeds). */
  failFirst: number
  /** The first request for every Nth distinct message fails with `failStatus` (0: never). */
  failOnceEvery: number
  /**
   * For every Nth distinct message, the first request's connection is closed mid-response, after
   * the notification was created (0: never): the client cannot know it got through.
   */
  dropOnceEvery: number
  /** The body of failure answers, as raw bytes (any bytes at all); default a JSON message. */
  failBody: Uint8Array | undefined
  /** Token requests are answered with this status (0: never), and `failBody` when set. */
  tokenFailStatus: number
  /** For every Nth distinct message, the first request is never answered and nothing is created (0: never). */
  hangEvery: number
  /**
   * Answers notification ("notify") or token ("token") requests with their headers, then one byte
   * of body every `trickleMs`, never ending ("none": never).
   */
  trickle: "none" | "notify" | "token"
  trickleMs: number
  /** For every Nth distinct message, the first request is answered 201 with a body of 4 MiB (0: never). */
  hugeEvery: number
  /** Sent with a 429 or 503 answer (0: no Retry-After header). */
  retryAfterSeconds: number
  /** Lifetime of issued tokens, in seconds. */
  tokenLifetimeSeconds: number
  /** Issue opaque tokens (random strings, their expiry only in `expires_in`) instead of JWTs. */
  opaqueTokens: boolean
}

export interface FakeNotifyOptions extends Partial<FakeNotifyBehaviour> {
  readonly clientId?: string
  readonly clientSecret?: string
  /**
   * Clients the auth service knows, in place of `clientId` and `clientSecret`: each gets tokens
   * in its own name (the fault campaign tells its job processes apart by it).
   */
  readonly acceptClient?: (clientId: string, secret: string) => boolean
  /** Keep a journal of every notification request (FakeNotifyState.journal). */
  readonly journal?: boolean
  /**
   * The Idempotency-Key as the service keeps it (by default as sent): a campaign round where days
   * pass moves the dates of its data, and keeps each key with its date as meant.
   */
  readonly keyAsKept?: (key: string) => string
  /** Which workspace a todo belongs to; when known, a token of another workspace gets 403. */
  readonly workspaceOf?: (todoId: string) => string | undefined
}

export interface RecordedNotification {
  readonly workspaceId: string
  readonly message: string
  readonly idempotencyKey: string | undefined
}

/** One notification request as the fake saw it, for checkers of what clients did. */
export interface JournalEntry {
  readonly key: string | undefined
  /** The client whose token came with it, and the workspace it is for. */
  readonly client: string | undefined
  readonly workspaceId: string | undefined
  /** When it arrived (epoch ms, wall clock). */
  readonly at: number
  /** The status answered, if an answer was started. */
  status: number | undefined
  /** It created the notification (the first request of its key that got through). */
  created: boolean
  /** The message of the notification it created. */
  message: string | undefined
  /** What the fake did to it on purpose (a failure, a hang, a reset, a trickle, a huge answer), if anything. */
  injected: string | undefined
  /** The whole answer reached the client's socket. */
  answered: boolean
  /** When the exchange ended, answered or abandoned (epoch ms). */
  endedAt: number | undefined
}

export interface FakeNotifyState {
  /** Every notification request, when the fake keeps a journal. */
  readonly journal: Array<JournalEntry>
  /** Notifications created, in order (repeats of an Idempotency-Key are not in it). */
  readonly notifications: Array<RecordedNotification>
  /** Token requests, as received. */
  readonly tokenRequests: Array<{
    readonly url: string
    readonly authorization: string | undefined
    readonly contentType: string | undefined
    readonly body: string
  }>
  /** Answers given to notification requests, by status. */
  readonly answers: Record<number, number>
  /** Connections closed mid-response on purpose (dropOnceEvery). */
  dropped: number
  /** Requests whose Idempotency-Key had been seen: answered 200, nothing created. */
  duplicates: number
  notifyRequests: number
  /** When each notification request arrived, by the fake's Clock (TestClock in tests). */
  readonly requestTimes: Array<number>
  /** TCP connections accepted (keep-alive means far fewer than requests). */
  connections: number
  /** The most notification requests admitted and not yet answered at once (the fake's limits' count). */
  maxInFlight: number
  /** Requests answered 429 by the fake's limits, by workspace. */
  readonly throttledBy: Record<string, number>
  /** When the first notification was created (epoch ms, wall clock), for start-up measurements. */
  firstNotificationAt: number | undefined
  /** Tokens issued before this epoch second are refused with 401 (see `revokeTokens`). */
  revokedBefore: number
}

const base64Url = (value: string | Buffer) => Buffer.from(value).toString("base64url")

const todoIdOf = (message: string) => /^Todo (\S+) is delayed$/.exec(message)?.[1]

export const makeFakeNotify = (options: FakeNotifyOptions = {}) => {
  const clientId = options.clientId ?? "todos"
  const clientSecret = options.clientSecret ?? "fake-secret"
  const signingKey = `fake-notify-${clientSecret}`
  const behaviour: FakeNotifyBehaviour = {
    limitInFlight: options.limitInFlight ?? noLimits.limitInFlight,
    limitPerSecond: options.limitPerSecond ?? noLimits.limitPerSecond,
    workspaceLimitPerSecond: options.workspaceLimitPerSecond ?? noLimits.workspaceLimitPerSecond,
    limitedWorkspace: options.limitedWorkspace ?? noLimits.limitedWorkspace,
    latencyMs: options.latencyMs ?? 0,
    failEvery: options.failEvery ?? 0,
    failTodos: options.failTodos ?? [],
    failStatus: options.failStatus ?? 500,
    failFirst: options.failFirst ?? 0,
    failOnceEvery: options.failOnceEvery ?? 0,
    dropOnceEvery: options.dropOnceEvery ?? 0,
    failBody: options.failBody,
    tokenFailStatus: options.tokenFailStatus ?? 0,
    hangEvery: options.hangEvery ?? 0,
    trickle: options.trickle ?? "none",
    trickleMs: options.trickleMs ?? 2000,
    hugeEvery: options.hugeEvery ?? 0,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
    opaqueTokens: options.opaqueTokens ?? false
  }
  const state: FakeNotifyState = {
    journal: [],
    notifications: [],
    tokenRequests: [],
    answers: {},
    duplicates: 0,
    dropped: 0,
    notifyRequests: 0,
    requestTimes: [],
    connections: 0,
    maxInFlight: 0,
    throttledBy: {},
    firstNotificationAt: undefined,
    revokedBefore: 0
  }
  const limits = makeLimits(behaviour)
  const seenKeys = new Set<string>()
  const triesByMessage = new Map<string, number>()
  const waiters = makeWaiters()

  const sign = (payload: object) => {
    const unsigned = `${base64Url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64Url(JSON.stringify(payload))}`
    return `${unsigned}.${createHmac("sha256", signingKey).update(unsigned).digest("base64url")}`
  }
  type Claims = { sub: string; workspaceId: string; exp: number; iat: number }
  // Opaque tokens issued, with what they stand for.
  const opaque = new Map<string, Claims>()
  const verify = (token: string): Claims | undefined => {
    if (opaque.has(token)) return opaque.get(token)
    const [header, payload, signature] = token.split(".")
    if (header === undefined || payload === undefined || signature === undefined) return undefined
    const expected = createHmac("sha256", signingKey).update(`${header}.${payload}`).digest()
    const given = Buffer.from(signature, "base64url")
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    return JSON.parse(Buffer.from(payload, "base64url").toString())
  }

  const delay = Effect.suspend(() => behaviour.latencyMs > 0 ? Effect.sleep(behaviour.latencyMs) : Effect.void)
  const status = (code: number, message: string) => HttpServerResponse.unsafeJson({ message }, { status: code })
  const failure = (code: number) =>
    behaviour.failBody === undefined
      ? status(code, "Injected failure")
      : HttpServerResponse.uint8Array(behaviour.failBody, { status: code, contentType: "text/plain" })

  /** The client a Basic authorization names, when the auth service knows it with that secret. */
  const authenticated = (authorization: string | undefined): string | undefined => {
    const basic = /^Basic (.+)$/.exec(authorization ?? "")?.[1]
    if (basic === undefined) return undefined
    const decoded = Buffer.from(basic, "base64").toString()
    const colon = decoded.indexOf(":")
    const [id, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)]
    if (colon < 0) return undefined
    const known = options.acceptClient === undefined ? id === clientId && secret === clientSecret : options.acceptClient(id, secret)
    return known ? id : undefined
  }

  const issueToken = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* request.text
    const url = new URL(request.url, "http://fake")
    state.tokenRequests.push({
      url: request.url,
      authorization: request.headers["authorization"],
      contentType: request.headers["content-type"],
      body
    })
    if (behaviour.trickle === "token") return yield* trickle
    if (behaviour.tokenFailStatus > 0) return failure(behaviour.tokenFailStatus)
    const client = authenticated(request.headers["authorization"])
    if (client === undefined) return status(401, "Unknown client or wrong secret")
    const scope = /^workspaceId=([0-9a-fA-F-]{36})$/.exec(url.searchParams.get("scope") ?? "")
    if (url.searchParams.get("grant_type") !== "client_credentials" || scope === null) {
      return status(400, "Malformed grant or scope")
    }
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const claims: Claims = { sub: client, workspaceId: scope[1]!, iat: now, exp: now + behaviour.tokenLifetimeSeconds }
    const access_token = behaviour.opaqueTokens ? randomBytes(24).toString("base64url") : sign(claims)
    if (behaviour.opaqueTokens) opaque.set(access_token, claims)
    return HttpServerResponse.unsafeJson({
      access_token,
      token_type: "Bearer",
      expires_in: behaviour.tokenLifetimeSeconds
    })
  })

  /** Headers now, then a byte every trickleMs until the client goes away. */
  const trickle = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const response = NodeHttpServerRequest.toServerResponse(request)
    response.writeHead(500, { "content-type": "text/plain" })
    const timer = setInterval(() => response.write("."), behaviour.trickleMs)
    response.on("close", () => clearInterval(timer))
    return yield* Effect.never
  })

  const answer = (code: number, response: HttpServerResponse.HttpServerResponse) => {
    state.answers[code] = (state.answers[code] ?? 0) + 1
    return response
  }

  const createNotification = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* request.text
    const requestNumber = ++state.notifyRequests
    waiters.changed()
    state.requestTimes.push(yield* Clock.currentTimeMillis)
    const bearer = /^Bearer (.+)$/.exec(request.headers["authorization"] ?? "")?.[1]
    const claims = bearer === undefined ? undefined : verify(bearer)
    const entry = options.journal === true ? journal(request, claims) : undefined
    const injected = (what: string) => {
      if (entry !== undefined) entry.injected = what
    }
    if (claims !== undefined && !limits.admit(claims.workspaceId, Date.now())) {
      state.throttledBy[claims.workspaceId] = (state.throttledBy[claims.workspaceId] ?? 0) + 1
      return answer(429, HttpServerResponse.setHeader(status(429, "Too many requests"), "retry-after", String(behaviour.retryAfterSeconds)))
    }
    if (claims !== undefined) {
      state.maxInFlight = Math.max(state.maxInFlight, limits.inFlight())
      yield* Effect.addFinalizer(() => Effect.sync(limits.leave))
    }
    if (behaviour.trickle === "notify") {
      injected("trickle")
      return yield* trickle
    }
    yield* delay
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    if (claims === undefined || claims.exp <= now || claims.iat < state.revokedBefore) {
      injected("401")
      return answer(401, status(401, "Token missing, expired or revoked"))
    }
    let message: unknown
    try {
      message = (JSON.parse(body) as { message?: unknown }).message
    } catch {
      message = undefined
    }
    if (typeof message !== "string") return answer(400, status(400, "Malformed body"))
    const todoId = todoIdOf(message)
    const owner = todoId === undefined ? undefined : options.workspaceOf?.(todoId)
    if (owner !== undefined && owner !== claims.workspaceId) {
      return answer(403, status(403, "Token is for another workspace"))
    }
    const tries = (triesByMessage.get(message) ?? 0) + 1
    triesByMessage.set(message, tries)
    const messageNumber = tries === 1 ? triesByMessage.size : 0
    const failing = (behaviour.failEvery > 0 && requestNumber % behaviour.failEvery === 0) ||
      (todoId !== undefined && behaviour.failTodos.includes(todoId)) || tries <= behaviour.failFirst ||
      (behaviour.failOnceEvery > 0 && messageNumber > 0 && messageNumber % behaviour.failOnceEvery === 0)
    if (behaviour.hangEvery > 0 && messageNumber > 0 && messageNumber % behaviour.hangEvery === 0) {
      injected("hang")
      return yield* Effect.never
    }
    if (failing) {
      injected(`fail ${behaviour.failStatus}`)
      const response = failure(behaviour.failStatus)
      return answer(
        behaviour.failStatus,
        (behaviour.failStatus === 429 || behaviour.failStatus === 503) && behaviour.retryAfterSeconds > 0
          ? HttpServerResponse.setHeader(response, "retry-after", String(behaviour.retryAfterSeconds))
          : response
      )
    }
    const key = request.headers["idempotency-key"]
    const kept = key === undefined || options.keyAsKept === undefined ? key : options.keyAsKept(key)
    if (kept !== undefined && seenKeys.has(kept)) {
      state.duplicates++
      return answer(200, status(200, "Notification already created"))
    }
    if (kept !== undefined) seenKeys.add(kept)
    if (entry !== undefined) {
      entry.created = true
      entry.message = message
    }
    state.notifications.push({ workspaceId: claims.workspaceId, message, idempotencyKey: key })
    waiters.changed()
    state.firstNotificationAt ??= Date.now()
    if (behaviour.dropOnceEvery > 0 && messageNumber > 0 && messageNumber % behaviour.dropOnceEvery === 0) {
      state.dropped++
      injected("reset after create")
      const response = NodeHttpServerRequest.toServerResponse(request)
      // Half a response, then the connection goes away.
      response.writeHead(201, { "content-type": "application/json", "content-length": "100" })
      response.write("{\"mess")
      response.socket?.destroy()
      return yield* Effect.never
    }
    if (behaviour.hugeEvery > 0 && messageNumber > 0 && messageNumber % behaviour.hugeEvery === 0) {
      injected("huge answer")
      return answer(201, HttpServerResponse.uint8Array(new Uint8Array(4 * 1024 * 1024).fill(32), { status: 201 }))
    }
    return answer(201, status(201, "Notification created"))
  })

  /** A journal entry for a notification request, completed as its exchange ends. */
  const journal = (request: HttpServerRequest.HttpServerRequest, claims: Claims | undefined) => {
    const entry: JournalEntry = {
      key: request.headers["idempotency-key"],
      client: claims?.sub,
      workspaceId: claims?.workspaceId,
      at: Date.now(),
      status: undefined,
      created: false,
      message: undefined,
      injected: undefined,
      answered: false,
      endedAt: undefined
    }
    state.journal.push(entry)
    const response = NodeHttpServerRequest.toServerResponse(request)
    response.once("finish", () => {
      entry.answered = true
      entry.status = response.statusCode
      entry.endedAt = Date.now()
    })
    response.once("close", () => {
      entry.status ??= response.headersSent ? response.statusCode : undefined
      entry.endedAt ??= Date.now()
    })
    return entry
  }

  /** For tools in other processes: read the record, change the behaviour, start afresh. */
  const control = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/__fake/stats",
      Effect.sync(() =>
        HttpServerResponse.unsafeJson({
          notifications: state.notifications.length,
          uniqueMessages: new Set(state.notifications.map((n) => n.message)).size,
          duplicates: state.duplicates,
          notifyRequests: state.notifyRequests,
          tokenRequests: state.tokenRequests.length,
          connections: state.connections,
          firstNotificationAt: state.firstNotificationAt ?? null,
          answers: state.answers
        })
      )
    ),
    HttpRouter.get("/__fake/notifications", Effect.sync(() => HttpServerResponse.unsafeJson(state.notifications))),
    HttpRouter.post(
      "/__fake/reset",
      Effect.sync(() => {
        state.notifications.length = 0
        state.tokenRequests.length = 0
        for (const code of Object.keys(state.answers)) delete state.answers[Number(code)]
        state.duplicates = 0
        state.journal.length = 0
        state.notifyRequests = 0
        state.requestTimes.length = 0
        triesByMessage.clear()
        state.connections = 0
        state.firstNotificationAt = undefined
        seenKeys.clear()
        return HttpServerResponse.empty({ status: 204 })
      })
    ),
    HttpRouter.post(
      "/__fake/behaviour",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        Object.assign(behaviour, yield* request.json)
        return HttpServerResponse.unsafeJson(behaviour)
      })
    )
  )

  const app = HttpRouter.empty.pipe(
    HttpRouter.post("/auth/token", issueToken),
    HttpRouter.post("/notify/notifications", createNotification),
    HttpRouter.concat(control),
    HttpRouter.catchAll(() => Effect.succeed(HttpServerResponse.empty({ status: 500 })))
  )

  return {
    app,
    state,
    behaviour,
    /** Completes once `condition` holds of the fake's state (checked as requests come, no polling). */
    until: (condition: (state: FakeNotifyState) => boolean) => waiters.until(() => condition(state)),
    /** Every token issued so far is refused from now on (the next request gets 401). */
    revokeTokens: Effect.map(Clock.currentTimeMillis, (now) => {
      state.revokedBefore = Math.floor(now / 1000) + 1
    })
  }
}

export type FakeNotify = ReturnType<typeof makeFakeNotify> & { readonly url: string; readonly port: number }

/** Serves a fake on 127.0.0.1 (port 0: a free one) for the life of the scope. */
export const serveFakeNotify = (
  options: FakeNotifyOptions & {
    readonly port?: number
    /** The address to listen on; default 127.0.0.1 (0.0.0.0 in a container). */
    readonly host?: string
    /** Serve HTTPS with this certificate (PEM, for 127.0.0.1) instead of HTTP. */
    readonly tls?: { readonly cert: string; readonly key: string }
  } = {}
) =>
  Effect.gen(function*() {
    const fake = makeFakeNotify(options)
    const server = yield* NodeHttpServer.make(() => {
      const http = options.tls === undefined ? createServer() : createHttpsServer(options.tls)
      http.on("connection", () => void fake.state.connections++)
      return http
    }, { port: options.port ?? 0, host: options.host ?? "127.0.0.1" })
    yield* server.serve(fake.app)
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const url = `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`
    return { ...fake, url, port } satisfies FakeNotify
  })

