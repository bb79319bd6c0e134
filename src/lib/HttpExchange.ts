/**
 * One HTTP request on undici's own Dispatcher, wrapped once in an Effect: the whole exchange
 * (connection, headers and body) within one deadline, and at most `maxBytes` of the answer read
 * (the rest is discarded with the connection). The notify and auth calls use it instead of
 * @effect/platform's HttpClient, whose request and response wrappers cost more CPU per
 * notification than everything else the job does (bench/NOTES.md, "Profile: hot spots found and what was changed"), and whose body
 * reader reads an answer whole, however large.
 */
import { Context, Effect, Schema } from "effect"
import type { Dispatcher } from "undici"

/** The undici Dispatcher (an Agent with keep-alive) of the process; its live layer is in layers/HttpLive. */
export class HttpDispatcher extends Context.Tag("app/HttpDispatcher")<HttpDispatcher, Dispatcher>() {}

/**
 * Connections the dispatcher may open to one origin; unbounded unless set. A run sets it to its
 * concurrency: each request in flight is one worker's (a notification or its token), so none waits
 * for a connection, and the pool does not open spares. Unbounded, undici opens one whenever a
 * worker posts again before its connection is marked free, and closes the spares when idle:
 * connects a run does not need.
 */
export class ConnectionsPerOrigin extends Context.Reference<ConnectionsPerOrigin>()("app/ConnectionsPerOrigin", {
  defaultValue: (): number | undefined => undefined
}) {}

/** The most of any answer the job reads: enough for an error excerpt and a token's JSON. */
export const maxAnswerBytes = 64 * 1024

export interface Answer {
  readonly status: number
  /** The value of the answer's first header `name` (lower case), if it has one. */
  readonly header: (name: string) => string | undefined
  /** The answer's first `maxBytes` as UTF-8 (invalid sequences replaced). */
  readonly body: string
  /** The answer was longer than `maxBytes`: the rest was not read. */
  readonly truncated: boolean
  /**
   * The service's own time, in milliseconds: from the request's start on its connection to the
   * answer's headers (not the wait for a connection, nor the body's transfer). The job's own
   * event-loop delay before the headers' callback can still add to it.
   */
  readonly serviceMs: number
}

/** No answer: the deadline passed, the connection failed, or it broke while the answer came. */
export class ExchangeError extends Schema.TaggedError<ExchangeError>()("ExchangeError", {
  timedOut: Schema.Boolean,
  /** Headers had arrived (the request may have been acted on). */
  answered: Schema.Boolean,
  cause: Schema.Defect
}) {}

export interface Exchange {
  readonly origin: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string
  /** The whole exchange, in milliseconds. */
  readonly deadline: number
  readonly maxBytes?: number
}

/** The value of the first header `name` (lower case) in undici's raw headers: name, value, name, value... */
const headerIn = (raw: ReadonlyArray<Buffer>, name: string): string | undefined => {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toString("latin1").toLowerCase() === name) return raw[i + 1]!.toString("latin1")
  }
  return undefined
}

/**
 * The request's life, as undici's dispatch handler: no AbortController, response stream or async
 * iterator per request (each showed in the profile of a run; bench/NOTES.md, "Profile: hot spots found and what was changed").
 * Settles once.
 * It has the handler methods undici calls itself (onConnect, onHeaders, onData...): a handler of
 * the newer form (onRequestStart...) is wrapped by undici in two more objects per request, and
 * its headers and trailers parsed into objects, where the job reads one header of a failure.
 */
class PostHandler implements Dispatcher.DispatchHandler {
  private abort: ((error?: Error) => void) | undefined
  private settled = false
  private cancelled = false
  private timedOut = false
  private answered = false
  private status = 0
  // performance.now() at the start on a connection, and at the headers: a duration of the other
  // side's, measured on the monotonic clock, not a time of the job's.
  private startedAt = 0
  private headersAt = 0
  private rawHeaders: ReadonlyArray<Buffer> = []
  private readonly chunks: Array<Buffer> = []
  private size = 0
  private readonly timer: ReturnType<typeof setTimeout>

  constructor(
    private readonly limit: number,
    deadline: number,
    private readonly done: (outcome: Answer | ExchangeError) => void
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true
      this.cancel()
    }, deadline)
  }

  /** Ends the exchange from this side (its deadline passed); the request is aborted. */
  private cancel() {
    this.cancelled = true
    this.abort?.(new Error("The exchange was cancelled"))
  }

  onConnect(abort: (error?: Error) => void) {
    this.startedAt = performance.now()
    if (this.cancelled) abort(new Error("The exchange was cancelled"))
    else this.abort = abort
  }

  onHeaders(status: number, rawHeaders: Array<Buffer>) {
    this.headersAt = performance.now()
    this.answered = true
    this.status = status
    this.rawHeaders = rawHeaders
    return true
  }

  onData(chunk: Buffer) {
    if (this.settled) return false
    if (this.size + chunk.length > this.limit) {
      this.chunks.push(chunk.subarray(0, this.limit - this.size))
      this.succeed(true)
      // The rest is not read: the connection is closed.
      this.abort?.(new Error("The answer is longer than the job reads"))
      return false
    }
    this.chunks.push(chunk)
    this.size += chunk.length
    return true
  }

  onComplete() {
    this.succeed(false)
  }

  onError(cause: Error) {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.timer)
    this.done(new ExchangeError({ timedOut: this.timedOut, answered: this.answered, cause }))
  }

  private succeed(truncated: boolean) {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.timer)
    const chunks = this.chunks
    const raw = this.rawHeaders
    this.done({
      status: this.status,
      header: (name) => headerIn(raw, name),
      body: chunks.length === 0 ? "" : chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"),
      truncated,
      serviceMs: this.headersAt - this.startedAt
    })
  }
}

/**
 * POSTs `exchange.body`; `done` is called once, with the answer or why there is none. The form for
 * callers that share one exchange among several waiting fibers (a workspace's token).
 */
export const dispatchPost = (dispatcher: Dispatcher, exchange: Exchange, done: (outcome: Answer | ExchangeError) => void) => {
  const handler = new PostHandler(exchange.maxBytes ?? maxAnswerBytes, exchange.deadline, done)
  dispatcher.dispatch({
    origin: exchange.origin,
    path: exchange.path,
    method: "POST",
    headers: exchange.headers,
    body: exchange.body,
    // The deadline above bounds the whole exchange; these only must not cut it shorter.
    headersTimeout: exchange.deadline + 1000,
    bodyTimeout: exchange.deadline + 1000
  }, handler)
}

/**
 * POSTs `exchange.body` and goes on with `then(answer)`; see the module comment. `then` runs as
 * the fiber resumes, in the same step: on the path taken once per notification that is one step of
 * Effect's run loop fewer than a `flatMap` after `post`.
 *
 * Interrupting the fiber leaves the request to its deadline or to the end of the dispatcher (the
 * run's scope: HttpLive destroys the Agent, which aborts what is in flight); its answer, if one
 * comes, is dropped. A canceler per request (Effect.async's, which wraps the request in
 * onInterrupt) cost as much CPU as the job's own code on that path (bench/NOTES.md, "Profile: hot spots found and what was changed").
 * An interrupted send's outcome is unknown either way: its claim is kept and it is sent again with
 * the same Idempotency-Key.
 */
export const postThen = <A, E>(
  dispatcher: Dispatcher,
  exchange: Exchange,
  then: (answer: Answer) => Effect.Effect<A, E>
): Effect.Effect<A, E | ExchangeError> =>
  Effect.async<A, E | ExchangeError>((resume) =>
    dispatchPost(dispatcher, exchange, (outcome) => resume(outcome instanceof ExchangeError ? Effect.fail(outcome) : then(outcome)))
  )

/** POSTs `exchange.body`; its answer. */
export const post = (dispatcher: Dispatcher, exchange: Exchange): Effect.Effect<Answer, ExchangeError> =>
  postThen(dispatcher, exchange, Effect.succeed)
