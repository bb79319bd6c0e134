import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { CalendarDate, type DelayedTodo, TodoId, WorkspaceId } from "../src/domain/Todo.js"
import { DatabaseError } from "../src/services/DatabaseErrors.js"
import { NotificationClient } from "../src/services/NotificationClient.js"
import { TodoRepository } from "../src/services/TodoRepository.js"
import { sendDelayNotifications } from "../src/SendDelayNotifications.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"

const backlog: ReadonlyArray<DelayedTodo> = Array.from({ length: 10 }, (_, i) => ({
  id: TodoId.make(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`),
  workspaceId: WorkspaceId.make("11111111-1111-4111-8111-000000000000"),
  dueDate: CalendarDate.make("2020-01-01")
}))

/** Every send of both runs, by run and todo. */
type Sends = Array<{ readonly run: string; readonly todoId: string }>

/** A client whose sends each take a second of the (test) clock, and can take no longer. */
const slowClient = (run: string, sends: Sends) =>
  Layer.succeed(
    NotificationClient,
    NotificationClient.of({
      longestSend: Duration.seconds(1),
      send: (notification) =>
        Effect.sleep("1 second").pipe(
          Effect.zipRight(Effect.sync(() => sends.push({ run, todoId: notification.todoId }))),
          Effect.as({ retries: 0 })
        )
    })
  )

/** One run on the shared ledger: one send at a time, batches of 5, a lease of 4 s (renewed every second). */
const runOn = (ledger: Layer.Layer<TodoRepository>, run: string, sends: Sends) =>
  sendDelayNotifications(CalendarDate.make("2022-06-03"), {
    runId: run,
    concurrency: 1,
    batchSize: 5,
    lease: Duration.seconds(4),
    retry: defaultRetryPolicy
  }).pipe(Effect.provide(Layer.merge(ledger, slowClient(run, sends))), Effect.fork)

/**
 * Run A claims both batches at once (one in hand, one ahead) and needs 10 s for them; run B
 * starts 4.5 s in, after A's first claims would have lapsed without renewal, and takes whatever
 * is claimable; run C, after both, sends what is left.
 */
const twoRuns = (ledgerOfA: (shared: Context.Context<TodoRepository>) => Layer.Layer<TodoRepository>) =>
  Effect.gen(function*() {
    const shared = yield* Layer.build(inMemoryLedger(backlog))
    const sends: Sends = []
    const a = yield* runOn(ledgerOfA(shared), "A", sends)
    yield* TestClock.adjust("4500 millis")
    const b = yield* runOn(Layer.succeedContext(shared), "B", sends)
    while (a.unsafePoll() === null || b.unsafePoll() === null) yield* TestClock.adjust("100 millis")
    const c = yield* runOn(Layer.succeedContext(shared), "C", sends)
    while (c.unsafePoll() === null) yield* TestClock.adjust("100 millis")
    return { sends, a: yield* Fiber.join(a), b: yield* Fiber.join(b) }
  })

/** How many times each todo was sent, in backlog order. */
const sendsPerTodo = (sends: Sends) => backlog.map((todo) => sends.filter((send) => send.todoId === todo.id).length)

describe("a run's claims while it works through batches that outlast the lease", () => {
  it.scoped("are renewed: a second run takes none of them, and each todo is sent once", () =>
    Effect.gen(function*() {
      const { a, b, sends } = yield* twoRuns((shared) => Layer.succeedContext(shared))
      expect(sendsPerTodo(sends)).toEqual(Array(10).fill(1))
      expect(a.sent).toBe(10)
      expect(b.delayed).toBe(0)
    }))

  it.scoped("that cannot be renewed are not sent once they could lapse: later runs send those, each todo once", () =>
    Effect.gen(function*() {
      const { a, sends } = yield* twoRuns((shared) =>
        Layer.succeed(TodoRepository, {
          ...Context.get(shared, TodoRepository),
          renew: () => Effect.fail(new DatabaseError({ operation: "Renewing claims", cause: new Error("deadlock detected") }))
        })
      )
      expect(sendsPerTodo(sends)).toEqual(Array(10).fill(1))
      // A hands back what it took up once a send could outlast its claim (a second of a 4 s lease).
      expect(a.released).toBeGreaterThan(0)
      expect(a.sent).toBeLessThan(10)
    }))
})
