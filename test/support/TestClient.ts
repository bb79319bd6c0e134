/**
 * A test double of the NotificationClient port: it records what it is sent (read through
 * SentNotifications) and fails for the given todos. Kept out of src/ so the built job never
 * contains it (test/deploy.test.ts checks).
 */
import { Context, Duration, Effect, Layer } from "effect"
import { type Delivery, type Notification, NotificationClient, NotificationError, NotSent, type SendError } from "../../src/services/NotificationClient.js"

/** What a test client was sent, in order. */
export class SentNotifications extends Context.Tag("test/SentNotifications")<SentNotifications, {
  readonly all: Effect.Effect<ReadonlyArray<Notification>>
}>() {}

/**
 * A client that records what it is sent and fails, with the given HTTP status, for the given
 * todos; read the record through `SentNotifications`.
 */
export const testClientLayer = (
  options: { readonly failFor?: ReadonlyArray<string>; readonly status?: number } = {}
): Layer.Layer<NotificationClient | SentNotifications> =>
  Layer.effectContext(Effect.sync(() => {
    const sent: Array<Notification> = []
    const failFor = new Set(options.failFor ?? [])
    const client = NotificationClient.of({
      longestSend: Duration.zero,
      // Each send is one request: it waits for its first turn under a rate, as the live client does.
      send: (notification, turns) =>
        turns === undefined ? answer(notification) : Effect.flatMap(turns.first, (go): Effect.Effect<Delivery, SendError> =>
          go ? answer(notification) : new NotSent({ workspaceId: notification.workspaceId, todoId: notification.todoId }))
    })
    const answer = (notification: Notification): Effect.Effect<Delivery, NotificationError> =>
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
    return Context.make(NotificationClient, client).pipe(Context.add(SentNotifications, { all: Effect.sync(() => [...sent]) }))
  }))
