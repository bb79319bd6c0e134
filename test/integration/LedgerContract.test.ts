/**
 * The ledger's contract, one suite run against each implementation of the TodoRepository port:
 * the in-memory ledger the unit tests use, and the PostgreSQL adapter on the database's clock and
 * on Effect's Clock. Every rule the unit tests rely on is here, so where the in-memory ledger
 * drifts from the real one, this fails. Time is moved only for the ledgers on Effect's Clock;
 * elsewhere a lease or a wait is either zero (over at once) or an hour (not over within the
 * test), which holds on every clock.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it, type Vitest } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream, TestClock, type TestServices } from "effect"
import { CalendarDate, type ClaimedTodo, type DelayedTodo, TodoId, WorkspaceId } from "../../src/domain/Todo.js"
import { type ClaimRequest, type Outcome, TodoRepository } from "../../src/services/TodoRepository.js"
import { TodoRepositoryLive, TodoRepositoryOnClockLive } from "../../src/services/TodoRepository/Live.js"
import { createTodosTable, TestDatabaseLive } from "../support/database.js"
import { makeInMemory } from "../support/InMemoryLedger.js"

/** The todos table behind a ledger, as a test changes it. */
interface Table {
  readonly insert: (todo: DelayedTodo) => Effect.Effect<void>
  readonly remove: (todo: DelayedTodo) => Effect.Effect<void>
  readonly move: (todo: DelayedTodo, dueDate: string) => Effect.Effect<void>
}

/** A fresh ledger over a todos table holding `todos`. */
type Subject<R> = (todos: ReadonlyArray<DelayedTodo>) => Effect.Effect<{ readonly ledger: TodoRepository["Type"]; readonly table: Table }, never, R>

const workspace = (n: number) => WorkspaceId.make(`aaaaaaaa-0000-4000-8000-${String(n).padStart(12, "0")}`)
const todo = (n: number, ws: number, dueDate: string): DelayedTodo => ({
  id: TodoId.make(`00000000-0000-4000-8000-${String(n).padStart(12, "0")}`),
  workspaceId: workspace(ws),
  dueDate: CalendarDate.make(dueDate)
})
// Three todos of one workspace and two of another, due in this order, and one due in 2030.
const [a1, a2, a3, b1, b2, later] = [
  todo(1, 1, "2020-01-01"),
  todo(2, 1, "2020-01-02"),
  todo(3, 1, "2020-01-03"),
  todo(4, 2, "2020-01-04"),
  todo(5, 2, "2020-01-05"),
  todo(6, 2, "2030-01-01")
] as const
const table = [a1, a2, a3, b1, b2, later]
const reference = CalendarDate.make("2022-06-03")

// The runs that claim (their ids are uuids, as a run's is).
const [runA, runB, runC] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()]
const hour = Duration.hours(1)
const request = (owner: string, size: number, lease = hour, order: ClaimRequest["order"] = "oldest-first"): ClaimRequest => ({
  owner,
  size,
  lease,
  order
})
const ids = (todos: ReadonlyArray<Pick<DelayedTodo, "id">>) => todos.map((t) => t.id)
const byId = (todos: ReadonlyArray<ClaimedTodo>) => [...todos].sort((x, y) => x.id.localeCompare(y.id))
const claimedOf = (t: DelayedTodo, attempts = 0): ClaimedTodo => ({ ...t, attempts })

/** Every step of adding the backlog at `at`: the todos added in all, and whether the last step said all were in. */
const enqueue = (ledger: TodoRepository["Type"], at = reference) =>
  Effect.map(Stream.runCollect(ledger.enqueueDelayed(at)), (chunk) => {
    const steps = Chunk.toReadonlyArray(chunk)
    const last = steps.at(-1)
    return { added: steps.reduce((sum, step) => sum + step.added, 0), allIn: last !== undefined && last.step === last.steps }
  })

/** `clock`: the ledger's time is Effect's Clock, which the test moves (TestClock); `database`: PostgreSQL's now(). */
const ledgerContract = <R>(test: Vitest.Tester<R | TestServices.TestServices>, subject: Subject<R>, time: "clock" | "database") => {
  // Only a ledger on Effect's Clock can be moved in time; the database's now() cannot.
  if (time === "clock") {
    test("a lease holds until it lapses, a renewal moves it on, and a retry comes back when its wait is over", () =>
      Effect.gen(function*() {
        const { ledger } = yield* subject(table)
        yield* enqueue(ledger)
        yield* ledger.claim(request(runA, 10, Duration.minutes(1)))
        yield* TestClock.adjust("59 seconds")
        expect((yield* ledger.claim(request(runB, 10))).todos).toEqual([])
        expect(yield* ledger.renew(runA, Duration.minutes(1), [a1])).toBe(1)
        yield* TestClock.adjust("2 seconds")
        expect(ids((yield* ledger.claim(request(runB, 10))).todos)).toEqual(ids([a2, a3, b1, b2]))
        yield* ledger.record(runB, [
          { _tag: "RetryLater", todo: claimedOf(a2), attempts: 1, retryIn: Duration.minutes(5), status: 503, error: "no" }
        ])
        // A's renewed claim has lapsed by now; a2 still waits for its retry.
        yield* TestClock.adjust("4 minutes")
        expect((yield* ledger.claim(request(runC, 10))).todos).toEqual([claimedOf(a1)])
        yield* TestClock.adjust("1 minute")
        expect((yield* ledger.claim(request(runC, 10))).todos).toEqual([claimedOf(a2, 1)])
      }))
  }

  test("enqueue adds each todo due on or before the reference once, and none due later", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      expect(yield* enqueue(ledger)).toEqual({ added: 5, allIn: true })
      expect(yield* enqueue(ledger)).toEqual({ added: 0, allIn: true })
      expect(yield* ledger.leftToClaim).toBe(5)
      expect((yield* enqueue(ledger, CalendarDate.make("2030-01-01"))).added).toBe(1)
    }))

  test("claims oldest first up to the size, skipping the todos another run holds", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      const first = yield* ledger.claim(request(runA, 2))
      expect(first).toEqual({ todos: [claimedOf(a1), claimedOf(a2)], dropped: 0 })
      expect(ids((yield* ledger.claim(request(runB, 10))).todos)).toEqual(ids([a3, b1, b2]))
      expect((yield* ledger.claim(request(runC, 10))).todos).toEqual([])
      expect(yield* ledger.leftToClaim).toBe(0)
    }))

  test("an expired claim is taken over by another run, never by the run that held it", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      expect(ids((yield* ledger.claim(request(runA, 2, Duration.zero))).todos)).toEqual(ids([a1, a2]))
      expect(yield* ledger.leftToClaim).toBe(5)
      expect(ids((yield* ledger.claim(request(runA, 2))).todos)).toEqual(ids([a3, b1]))
      expect(ids((yield* ledger.claim(request(runB, 10))).todos)).toEqual(ids([a1, a2, b2]))
    }))

  test("the outcome of a claim no longer held is not written: the run that took the todo over decides", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      yield* ledger.claim(request(runA, 10, Duration.zero))
      yield* ledger.claim(request(runB, 10))
      const sentByA: Outcome = { _tag: "Sent", todo: claimedOf(a1) }
      expect(yield* ledger.record(runA, [sentByA])).toEqual({ notHeld: [sentByA] })
      // Nor from a run that never claimed it.
      const sentByC: Outcome = { _tag: "Sent", todo: claimedOf(b1) }
      expect(yield* ledger.record(runC, [sentByC])).toEqual({ notHeld: [sentByC] })
      // B's outcomes are written: a1 sent, b1 to be tried again at once with its attempt counted.
      const retry: Outcome = { _tag: "RetryLater", todo: claimedOf(b1), attempts: 1, retryIn: Duration.zero, status: 500, error: "no" }
      expect(yield* ledger.record(runB, [{ _tag: "Sent", todo: claimedOf(a1) }, retry])).toEqual({ notHeld: [] })
      expect((yield* ledger.claim(request(runC, 10))).todos).toEqual([claimedOf(b1, 1)])
      // Once written, an outcome is not B's to write again.
      expect((yield* ledger.record(runB, [{ _tag: "Sent", todo: claimedOf(a1) }])).notHeld.length).toBe(1)
    }))

  test("a todo deleted, or whose due date moved, is dropped at its claim; the moved one comes back at its new date", () =>
    Effect.gen(function*() {
      const { ledger, table: todos } = yield* subject(table)
      yield* enqueue(ledger)
      yield* todos.remove(a1)
      yield* todos.move(a2, "2020-02-01")
      yield* todos.move(b1, "2031-01-01")
      expect(yield* ledger.claim(request(runA, 10))).toEqual({ todos: [claimedOf(a3), claimedOf(b2)], dropped: 3 })
      expect((yield* enqueue(ledger)).added).toBe(1)
      expect((yield* ledger.claim(request(runB, 10))).todos).toEqual([{ ...claimedOf(a2), dueDate: "2020-02-01" }])
      // A todo inserted after a run is added by the next.
      yield* todos.insert(todo(7, 3, "2021-01-01"))
      expect((yield* enqueue(ledger)).added).toBe(1)
    }))

  test("retries, dead letters and released todos: what comes back, when, with which attempts", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      yield* ledger.claim(request(runA, 10))
      const failed = { status: 503, error: "Service Unavailable" }
      const { notHeld } = yield* ledger.record(runA, [
        { _tag: "RetryLater", todo: claimedOf(a1), attempts: 1, retryIn: Duration.zero, ...failed },
        { _tag: "RetryLater", todo: claimedOf(a2), attempts: 1, retryIn: hour, ...failed },
        { _tag: "DeadLetter", todo: claimedOf(a3), attempts: 5, ...failed },
        { _tag: "Released", todo: claimedOf(b1) },
        { _tag: "Released", todo: claimedOf(b2), retryIn: hour }
      ])
      expect(notHeld).toEqual([])
      expect(yield* ledger.leftToClaim).toBe(2)
      expect(yield* ledger.backlogState).toEqual({ oldestPendingDue: "2020-01-01", deadLetters: 1 })
      expect(byId((yield* ledger.claim(request(runB, 10))).todos)).toEqual([claimedOf(a1, 1), claimedOf(b1, 0)])
      expect(yield* ledger.leftToClaim).toBe(0)
    }))

  test("a sent todo is never claimed again, by any run", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      yield* ledger.claim(request(runA, 10, Duration.zero))
      yield* ledger.record(runA, [a1, a2, a3, b1, b2].map((t): Outcome => ({ _tag: "Sent", todo: claimedOf(t) })))
      expect(yield* enqueue(ledger)).toEqual({ added: 0, allIn: true })
      expect((yield* ledger.claim(request(runB, 10))).todos).toEqual([])
      expect(yield* Stream.runCollect(ledger.pending(reference)).pipe(Effect.map(Chunk.toReadonlyArray))).toEqual([])
      expect(yield* ledger.backlogState).toEqual({ oldestPendingDue: undefined, deadLetters: 0 })
    }))

  test("fair order: one todo of every workspace before a second of any, oldest first within each round", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      expect(ids((yield* ledger.claim(request(runA, 4, hour, "fair"))).todos)).toEqual(ids([a1, b1, a2, b2]))
      expect(ids((yield* ledger.claim(request(runB, 4, hour, "fair"))).todos)).toEqual(ids([a3]))
    }))

  test("renewal extends only the live claims the run holds", () =>
    Effect.gen(function*() {
      const { ledger } = yield* subject(table)
      yield* enqueue(ledger)
      yield* ledger.claim(request(runA, 2))
      yield* ledger.claim(request(runB, 1, Duration.zero))
      expect(yield* ledger.renew(runA, hour, [a1, a2, a3])).toBe(2)
      // B's claim lapsed: it is not B's to extend.
      expect(yield* ledger.renew(runB, hour, [a3])).toBe(0)
      yield* ledger.record(runA, [{ _tag: "Sent", todo: claimedOf(a1) }])
      expect(yield* ledger.renew(runA, hour, [a1, a2])).toBe(1)
      expect(yield* ledger.renew(runA, hour, [])).toBe(0)
    }))

  test("the dry run lists what a run would try: new todos and claimable ones, oldest first, none held", () =>
    Effect.gen(function*() {
      const { ledger, table: todos } = yield* subject(table)
      yield* enqueue(ledger)
      yield* ledger.claim(request(runA, 1))
      yield* todos.insert(todo(7, 3, "2020-01-03"))
      const pending = yield* Stream.runCollect(ledger.pending(reference)).pipe(Effect.map(Chunk.toReadonlyArray))
      expect(ids(pending)).toEqual(ids([a2, a3, todo(7, 3, "2020-01-03"), b1, b2]))
    }))
}

/** The in-memory ledger over an array the test changes. */
const inMemory: Subject<never> = (todos) =>
  Effect.sync(() => {
    const rows = [...todos]
    const at = (t: DelayedTodo) => rows.findIndex((row) => row.id === t.id && row.workspaceId === t.workspaceId)
    return {
      ledger: makeInMemory(rows),
      table: {
        insert: (t) => Effect.sync(() => void rows.push(t)),
        remove: (t) => Effect.sync(() => void rows.splice(at(t), 1)),
        move: (t, dueDate) => Effect.sync(() => void rows.splice(at(t), 1, { ...t, dueDate: CalendarDate.make(dueDate) }))
      }
    }
  })

/** The PostgreSQL adapter over this file's database, its todos table holding `todos`. */
const onPostgres = (layer: typeof TodoRepositoryLive): Subject<SqlClient.SqlClient> => (todos) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* createTodosTable
    const row = (t: DelayedTodo) => ({ id: t.id, name: "A todo", assignee: "Someone", dueDate: t.dueDate, workspaceId: t.workspaceId })
    yield* sql`INSERT INTO todos ${sql.insert(todos.map(row))}`
    const ledger = yield* Effect.provide(TodoRepository, layer)
    const table: Table = {
      insert: (t) => Effect.orDie(sql`INSERT INTO todos ${sql.insert(row(t))}`),
      remove: (t) => Effect.orDie(sql`DELETE FROM todos WHERE id = ${t.id} AND "workspaceId" = ${t.workspaceId}`),
      move: (t, dueDate) =>
        Effect.orDie(sql`UPDATE todos SET "dueDate" = ${dueDate}::date WHERE id = ${t.id} AND "workspaceId" = ${t.workspaceId}`)
    }
    return { ledger, table }
  }).pipe(Effect.orDie)

describe("the ledger's contract", () => {
  describe("in memory (test/support/InMemoryLedger)", () => ledgerContract(it.effect, inMemory, "clock"))
  it.layer(TestDatabaseLive)("on PostgreSQL, on the database's clock", (it) =>
    ledgerContract(it.effect, onPostgres(TodoRepositoryLive), "database"))
  it.layer(TestDatabaseLive)("on PostgreSQL, on Effect's Clock", (it) =>
    ledgerContract(it.effect, onPostgres(TodoRepositoryOnClockLive), "clock"))
})
