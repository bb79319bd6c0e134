import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Effect, Layer, Schema } from "effect"
import { TodoId, WorkspaceId } from "../domain/Todo.js"
import { logDebugWith } from "../lib/Log.js"
import { excerpt, servicesUrl, ServiceTokens } from "./ServiceTokens.js"

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
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.status === undefined ? this.reason : `HTTP ${this.status}: ${this.reason}`
  }
}

/** Live client: POST {SERVICES_URL}/notify/notifications with the workspace's bearer token. */
const makeHttp = Effect.gen(function*() {
  const url = `${yield* servicesUrl}/notify/notifications`
  // The send is traced as NotificationClient.send; a second span per request from the HTTP
  // client cost about a quarter of the per-notification CPU time (measured, bench/RESULTS.md).
  const http = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerDisabledWhen(() => true))
  const tokens = yield* ServiceTokens

  const post = Effect.fnUntraced(function*(notification: Notification) {
    const token = yield* tokens.get(notification.workspaceId)
    const body = { message: notification.message }
    yield* logDebugWith("Request", () => ({ method: "POST", url, body }))
    const response = yield* http.execute(
      HttpClientRequest.post(url).pipe(
        HttpClientRequest.bearerToken(token),
        HttpClientRequest.setHeader("idempotency-key", notification.idempotencyKey),
        HttpClientRequest.bodyUnsafeJson(body)
      )
    )
    // Always read the body, so the keep-alive connection goes back to the pool.
    const text = yield* response.text
    yield* logDebugWith("Response", () => ({ status: response.status, method: "POST", url, body: excerpt(text) }))
    return { status: response.status, body: text }
  })

  const send = Effect.fn("NotificationClient.send")(
    function*(notification: Notification) {
      let response = yield* post(notification)
      if (response.status === 401) {
        // The token expired or was revoked early: fetch a new one and try once more.
        yield* tokens.invalidate(notification.workspaceId)
        response = yield* post(notification)
      }
      if (response.status >= 200 && response.status < 300) return
      return yield* new NotificationError({
        workspaceId: notification.workspaceId,
        todoId: notification.todoId,
        status: response.status,
        reason: excerpt(response.body)
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
            reason: `Could not reach the notify service: ${error.message}`,
            cause: error
          }),
        ResponseError: (error) =>
          new NotificationError({
            workspaceId: notification.workspaceId,
            todoId: notification.todoId,
            status: error.response.status,
            reason: `Could not read the notify service's answer: ${error.message}`,
            cause: error
          })
      })
  )

  return NotificationClient.of({ send })
})

export class NotificationClient extends Context.Tag("app/NotificationClient")<NotificationClient, {
  readonly send: (notification: Notification) => Effect.Effect<void, NotificationError>
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
            })
      })
      return Context.make(NotificationClient, client).pipe(Context.add(SentNotifications, { all: Effect.sync(() => [...sent]) }))
    }))
}

/** What a test client was sent, in order (test layers only). */
export class SentNotifications extends Context.Tag("test/SentNotifications")<SentNotifications, {
  readonly all: Effect.Effect<ReadonlyArray<Notification>>
}>() {}
