import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import { defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { CalendarDate, type DelayedTodo, TodoId, WorkspaceId } from "../src/domain/Todo.js"
import { NotificationClient, NotifyThrottled } from "../src/services/NotificationClient.js"
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

describe("a notify service that turns every request away", () => {
  it.scoped("the run stops after a minute with nothing accepted, and hands every todo back pending with no attempt (TestClock)", () =>
    Effect.gen(function*() {
      const todos = backlog(30)
      let requests = 0
      const throttling = Layer.succeed(
        NotificationClient,
        NotificationClient.of({
          longestSend: Duration.zero,
          send: (notification) =>
            Effect.zipRight(
              Effect.sync(() => requests++),
              new NotifyThrottled({ workspaceId: notification.workspaceId, todoId: notification.todoId, status: 429, retryAfterMs: 1000 })
            )
        })
      )
      const services = yield* Layer.build(Layer.merge(inMemoryLedger(todos), throttling))
      const reference = CalendarDate.make("2022-06-03")
      const run = yield* sendDelayNotifications(reference, {
        runId: "run",
        concurrency: 8,
        batchSize: 10,
        lease: Duration.minutes(5),
        retry: defaultRetryPolicy
      }).pipe(Effect.provide(services), Effect.fork)
      for (let second = 0; second < 600 && run.unsafePoll() === null; second++) yield* TestClock.adjust("1 second")
      const summary = yield* Fiber.join(run)
      expect(summary).toMatchObject({ stopped: "throttled", sent: 0, failed: 0, deadLetters: 0, delayed: 0 })
      expect(summary.throttled).toBe(requests)
      expect(summary.durationMs).toBeLessThanOrEqual(62_000)
      // Pending again once the last wait has passed (Retry-After 1 s, spread over up to as much
      // again), none charged an attempt.
      yield* TestClock.adjust("2 seconds")
      const pending = yield* Stream.runCollect(Context.get(services, TodoRepository).pending(reference))
      expect([...pending].map((todo) => todo.attempts)).toEqual(todos.map(() => 0))
    }))
})

describe("requests that never answer", () => {
  it.effect("four sends that never answer, as many as the limit it starts at: taken for lost after a second, the other 96 all sent meanwhile", () =>
    Effect.gen(function*() {
      const todos = backlog(100)
      const never = new Set(todos.slice(0, 4).map((todo) => todo.id))
      let sent = 0
      const answering = NotificationClient.of({
        longestSend: Duration.zero,
        send: (notification) =>
          never.has(notification.todoId)
            ? Effect.never
            : Effect.as(Effect.zipRight(Effect.sleep("20 millis"), Effect.sync(() => sent++)), { retries: 0 })
      })
      const client = Layer.succeed(NotificationClient, answering)
      const fiber = yield* sendDelayNotifications(CalendarDate.make("2022-06-03"), {
        runId: "run",
        concurrency: 20,
        adaptive: true,
        batchSize: 50,
        lease: Duration.minutes(5),
        retry: defaultRetryPolicy
      }).pipe(Effect.provide(Layer.merge(inMemoryLedger(todos), client)), Effect.fork)
      // A minute of the clock: far less than a send's timeout, far more than the loss timer's second.
      for (let ms = 0; ms < 60_000; ms += 50) yield* TestClock.adjust("50 millis")
      expect(sent).toBe(96)
      yield* Fiber.interrupt(fiber)
    }))
})
