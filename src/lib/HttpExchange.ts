/**
 * One HTTP request on undici's own Dispatcher, wrapped once in an Effect: the whole exchange
 * (connection, headers and body) within one deadline, and at most `maxBytes` of the answer read
 * (the rest is discarded with the connection). The notify and auth calls use it instead of
 * @effect/platform's HttpClient, whose request and response wrappers cost more CPU per
 * notification than everything else the job does (bench/RESULTS.md), and whose body reader reads
 * an answer whole, however large.
 */
import { Context, Data, Effect } from "effect"
import type { IncomingHttpHeaders } from "node:http"
import type { Dispatcher } from "undici"

/** The undici Dispatcher (an Agent with keep-alive) of the process; its live layer is in layers/HttpLive. */
export class HttpDispatcher extends Context.Tag("app/HttpDispatcher")<HttpDispatcher, Dispatcher>() {}

/** The most of any answer the job reads: enough for an error excerpt and a token's JSON. */
export const maxAnswerBytes = 64 * 1024

export interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  /** The answer's first `maxBytes` as UTF-8 (invalid sequences replaced). */
  readonly body: string
  /** The answer was longer than `maxBytes`: the rest was not read. */
  readonly truncated: boolean
}

/** No answer: the deadline passed, the connection failed, or it broke while the answer came. */
export class ExchangeError extends Data.TaggedError("ExchangeError")<{
  readonly timedOut: boolean
  /** Headers had arrived (the request may have been acted on). */
  readonly answered: boolean
  readonly cause: unknown
}> {}

export interface Exchange {
  readonly origin: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string
  /** The whole exchange, in milliseconds. */
  readonly deadline: number
  readonly maxBytes?: number
}

/** POSTs `exchange.body`; see the module comment. Interrupting it aborts the request. */
export const post = (dispatcher: Dispatcher, exchange: Exchange): Effect.Effect<Answer, ExchangeError> =>
  Effect.async<Answer, ExchangeError>((resume) => {
    const controller = new AbortController()
    let timedOut = false
    let answered = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, exchange.deadline)
    const limit = exchange.maxBytes ?? maxAnswerBytes
    dispatcher.request({
      origin: exchange.origin,
      path: exchange.path,
      method: "POST",
      headers: exchange.headers,
      body: exchange.body,
      signal: controller.signal,
      // The deadline above bounds the whole exchange; these only must not cut it shorter.
      headersTimeout: exchange.deadline + 1000,
      bodyTimeout: exchange.deadline + 1000
    }).then(async (response) => {
      answered = true
      const chunks: Array<Buffer> = []
      let size = 0
      let truncated = false
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (size + chunk.length > limit) {
          chunks.push(chunk.subarray(0, limit - size))
          truncated = true
          break // ends the body stream: the rest is not read, the connection is closed
        }
        chunks.push(chunk)
        size += chunk.length
      }
      clearTimeout(timer)
      resume(Effect.succeed({
        status: response.statusCode,
        headers: response.headers,
        body: chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"),
        truncated
      }))
    }).catch((cause: unknown) => {
      clearTimeout(timer)
      resume(Effect.fail(new ExchangeError({ timedOut, answered, cause })))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      controller.abort()
    })
  })
