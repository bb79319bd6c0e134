import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { CalendarDate, type DelayedTodo, TodoId, WorkspaceId } from "../src/domain/Todo.js"
import { NotificationClient } from "../src/services/NotificationClient.js"
import { TodoRepository } from "../src/services/TodoRepository.js"
import { sendDelayNotifications } from "../src/SendDelayNotifications.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"

const backlog = (count: number): ReadonlyArray<DelayedTodo> =>
  Array.from({ length: count }, (_, i) => ({
    id: TodoId.make(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`),
    workspaceId: WorkspaceId.make(`11111111-1111-4111-8111-${String(i % 7).padStart(12, "0")}`),
    dueDate: CalendarDate.make("2020-01-01")
  }))

/** A client whose sends each take 100 ms of the (test) clock; it notes the most in flight at once. */
const slowClient = () => {
  const seen = { inFlight: 0, most: 0, sent: 0 }
  const layer = Layer.succeed(
    NotificationClient,
    NotificationClient.of({
      longestSend: Duration.zero,
      send: () =>
        Effect.sync(() => {
          seen.inFlight++
          seen.most = Math.max(seen.most, seen.inFlight)
        }).pipe(
          Effect.zipRight(Effect.sleep("100 millis")),
          Effect.ensuring(Effect.sync(() => {
            seen.inFlight--
            seen.sent++
          })),
          Effect.as({ retries: 0 })
        )
    })
  )
  return { layer, seen }
}

/** The in-memory ledger, each claim taking 50 ms of the clock as a database round trip does. */
const slowClaims = (todos: ReadonlyArray<DelayedTodo>) =>
  Layer.effect(
    TodoRepository,
    Effect.map(TodoRepository, (ledger) =>
      TodoRepository.of({ ...ledger, claim: (request) => Effect.zipRight(Effect.sleep("50 millis"), ledger.claim(request)) }))
  ).pipe(Layer.provide(inMemoryLedger(todos)))

const runWith = (todos: ReadonlyArray<DelayedTodo>, concurrency: number, batchSize: number) =>
  Effect.gen(function*() {
    const client = slowClient()
    const fiber = yield* sendDelayNotifications(CalendarDate.make("2022-06-03"), {
      runId: "run",
      concurrency,
      adaptive: false,
      batchSize,
      lease: Duration.minutes(5),
      retry: defaultRetryPolicy
    }).pipe(Effect.provide(Layer.merge(slowClaims(todos), client.layer)), Effect.fork)
    while (fiber.unsafePoll() === null) yield* TestClock.adjust("50 millis")
    return { summary: yield* Fiber.join(fiber), seen: client.seen }
  })

describe("every worker busy", () => {
  it.effect("--concurrency sends are in flight at once at batch sizes below, at and above it, and each todo is sent once", () =>
    Effect.gen(function*() {
      for (const batchSize of [20, 50, 500]) {
        const { seen, summary } = yield* runWith(backlog(600), 20, batchSize)
        expect(summary.sent).toBe(600)
        expect(seen.sent).toBe(600)
        expect(seen.most).toBe(20)
      }
    }))

  it.effect("600 sends of 100 ms at concurrency 20 take the first claim and 3 s: no worker waits for a later batch", () =>
    Effect.gen(function*() {
      const { summary } = yield* runWith(backlog(600), 20, 50)
      expect(summary.durationMs).toBe(50 + 3000)
    }))
})
