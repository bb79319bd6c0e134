import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import { defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { CalendarDate, type DelayedTodo, isDelayed, TodoId, WorkspaceId } from "../src/domain/Todo.js"
import { NotificationClient } from "../src/services/NotificationClient.js"
import { addInParts, partsAfter, type TablePart, type TableReader, tablePartsOf } from "../src/services/TodoRepository/Parts.js"
import { sendDelayNotifications } from "../src/SendDelayNotifications.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"

const backlog = (count: number): ReadonlyArray<DelayedTodo> =>
  Array.from({ length: count }, (_, i) => ({
    id: TodoId.make(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`),
    workspaceId: WorkspaceId.make(`11111111-1111-4111-8111-${String(i % 7).padStart(12, "0")}`),
    dueDate: CalendarDate.make("2020-01-01")
  }))

/** Sends that each take 100 ms of the (test) clock. */
const slowClient = Layer.succeed(
  NotificationClient,
  NotificationClient.of({ longestSend: Duration.zero, send: () => Effect.as(Effect.sleep("100 millis"), { retries: 0 }) })
)

/**
 * The in-memory ledger adding the backlog in steps of 40 todos, each taking a quarter of a
 * millisecond per todo to add, as the database's insert is about twenty times cheaper per todo
 * than a send at this concurrency.
 */
const slowEnqueue = (todos: ReadonlyArray<DelayedTodo>) =>
  inMemoryLedger(todos, { step: 40, addingTakes: (count) => Duration.millis(count / 4) })

/**
 * The adapter's reading over a table whose pages each hold one todo (parts of 40, 640, then the
 * rest), with a ledger of its own: it notes the parts it added and where it looked for new todos.
 */
const pagedTable = (todos: ReadonlyArray<DelayedTodo>) => {
  const known = new Set<DelayedTodo>()
  const parts: Array<TablePart> = []
  const located: Array<number> = []
  const isNew = (reference: CalendarDate) => (todo: DelayedTodo) => isDelayed(todo.dueDate, reference) && !known.has(todo)
  const reader: TableReader = {
    tableParts: Effect.sync(() => tablePartsOf(todos.length, 40)),
    partsWithNew: (reference, from) =>
      Effect.sync(() => {
        located.push(from)
        const first = todos.findIndex((todo, i) => i >= from && isNew(reference)(todo))
        return first < 0 ? [] : tablePartsOf(todos.length, 40, 16, first)
      }),
    addPart: (reference, part) =>
      Effect.sync(() => {
        parts.push(part)
        const fresh = todos.slice(part.from, part.to).filter(isNew(reference))
        for (const todo of fresh) known.add(todo)
        return { added: fresh.length, undecodable: [] }
      })
  }
  const read = (reference: string) =>
    Stream.runCollect(addInParts(reader, CalendarDate.make(reference), false)).pipe(
      Effect.map((steps) => [...steps].reduce((sum, step) => sum + step.added, 0))
    )
  return { read, parts, located }
}

const runAt = (reference: string) => Effect.gen(function*() {
  const fiber = yield* sendDelayNotifications(CalendarDate.make(reference), {
    runId: crypto.randomUUID(),
    concurrency: 20,
    adaptive: false,
    batchSize: 50,
    lease: Duration.minutes(5),
    retry: defaultRetryPolicy
  }).pipe(Effect.fork)
  while (fiber.unsafePoll() === null) yield* TestClock.adjust("50 millis")
  return yield* Fiber.join(fiber)
})

const run = runAt("2022-06-03")

describe("the backlog enters the ledger in growing parts", () => {
  it("parts of a table: the first pages, then sixteen times as many each, the last open-ended", () => {
    expect(tablePartsOf(128, 64)).toEqual([{ from: 0, to: undefined }])
    expect(tablePartsOf(900, 64)).toEqual([{ from: 0, to: 64 }, { from: 64, to: undefined }])
    expect(tablePartsOf(13_500, 64)).toEqual([{ from: 0, to: 64 }, { from: 64, to: 1088 }, { from: 1088, to: undefined }])
    expect(tablePartsOf(200_000, 64)).toEqual([
      { from: 0, to: 64 },
      { from: 64, to: 1088 },
      { from: 1088, to: 17_472 },
      { from: 17_472, to: undefined }
    ])
    // From a page on (where todos the ledger does not know start).
    expect(tablePartsOf(13_500, 64, 16, 5_000)).toEqual([
      { from: 5_000, to: 5_064 },
      { from: 5_064, to: 6_088 },
      { from: 6_088, to: undefined }
    ])
    expect(tablePartsOf(5_100, 64, 16, 5_000)).toEqual([{ from: 5_000, to: undefined }])
    // After a part that added nothing (once the parts start where new todos do), the rest in one.
    const rest = [{ from: 64, to: 1088 }, { from: 1088, to: undefined }]
    expect(partsAfter(5, rest)).toEqual(rest)
    expect(partsAfter(0, rest)).toEqual([{ from: 64, to: undefined }])
  })

  it.effect("2,000 new todos: no worker waits while the rest of the backlog is added, each todo sent once", () =>
    Effect.gen(function*() {
      const summary = yield* Effect.provide(run, Layer.merge(slowEnqueue(backlog(2_000)), slowClient))
      expect(summary.sent).toBe(2_000)
      // The first step (40 todos, 10 ms), then 2,000 sends of 100 ms, 20 at a time, back to back.
      // Had the run waited for the whole backlog (2,000 todos, 500 ms to add), the workers would
      // have started 490 ms later.
      expect(summary.durationMs).toBe(10 + 10_000)
    }))

  it.effect("2,000 new todos are added in growing parts of the table: the first pages, then sixteen times as many", () =>
    Effect.gen(function*() {
      const table = pagedTable(backlog(2_000))
      expect(yield* table.read("2022-06-03")).toBe(2_000)
      expect(table.parts).toEqual([{ from: 0, to: 40 }, { from: 40, to: 680 }, { from: 680, to: undefined }])
    }))

  it.effect("todos known in the first pages, new ones after them: they are added from where they start, not as the rest in one", () =>
    Effect.gen(function*() {
      // The first 1,000 todos were due and added by an earlier run; the next 1,000 became due since.
      const dueLater = backlog(2_000).slice(1_000).map((todo) => ({ ...todo, dueDate: CalendarDate.make("2022-07-01") }))
      const table = pagedTable([...backlog(1_000), ...dueLater])
      expect(yield* table.read("2022-06-03")).toBe(1_000)
      table.parts.length = 0
      expect(yield* table.read("2022-08-01")).toBe(1_000)
      // The first part added nothing; one read of the rest found where the new todos start, and
      // they went in growing parts from there: the first notification waited for 40 of them, not
      // for the 1,960 todos after the first part (which the whole rest in one statement meant).
      expect(table.parts).toEqual([
        { from: 0, to: 40 },
        { from: 1_000, to: 1_040 },
        { from: 1_040, to: 1_680 },
        { from: 1_680, to: undefined }
      ])
      expect(table.located).toEqual([40])
    }))

  it.effect("a run with nothing new reads the table twice: the first part, then one read of the rest that adds nothing", () =>
    Effect.gen(function*() {
      const table = pagedTable(backlog(2_000))
      yield* table.read("2022-06-03")
      table.parts.length = 0
      table.located.length = 0
      expect(yield* table.read("2022-06-03")).toBe(0)
      expect(table.parts).toEqual([{ from: 0, to: 40 }])
      expect(table.located).toEqual([40])
    }))
})
