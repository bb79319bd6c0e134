/**
 * What a run reads of the todos table, on real PostgreSQL: a window (the todos due since the last
 * complete read, less two days) when the table has an index on "dueDate" and a full pass is
 * recent; the whole table on the first run, for --at, when the last full pass is older than
 * --full-pass-every, and when there is no index. What a window cannot see (a todo inserted with a
 * due date before it, or moved to one) the next full pass sends, once.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Layer, Stream, TestClock } from "effect"
import { ExitCode } from "../../src/Cli.js"
import { CalendarDate } from "../../src/domain/Todo.js"
import { TodoRepository } from "../../src/services/TodoRepository.js"
import { TodoRepositoryLive } from "../../src/services/TodoRepository/Live.js"
import { createTodosTable, insertDelayedTodos, layersOnDatabase, TestDatabaseLive } from "../support/database.js"
import { captureLogs, cli } from "../support/TestApp.js"
import { SentNotifications, testClientLayer } from "../support/TestClient.js"

const workspace = "aaaaaaaa-0000-4000-8000-000000000001"
const todoId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`

/** Inserts todos (by number) due on the given dates. */
const insert = (todos: ReadonlyArray<readonly [number, string]>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO todos ${
      sql.insert(todos.map(([n, dueDate]) => ({ id: todoId(n), name: `Todo ${n}`, assignee: "Someone", dueDate, workspaceId: workspace })))
    }`)

/** A run of the CLI at the TestClock's time (--now, in UTC), on this file's database: what it sent and logged. */
const runNow = (extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const client = yield* Layer.build(testClientLayer())
    const logs = yield* captureLogs
    const layers = yield* layersOnDatabase(Layer.succeedContext(client))
    const code = yield* cli(["send-delay-notifications", "--now", ...extra], layers).pipe(Effect.provide(logs.layer))
    const sent = (yield* Context.get(client, SentNotifications).all).map((n) => n.todoId as string).sort()
    return { code, sent, logs: logs.lines }
  })

/** The reads the ledger recorded as complete, oldest first. */
const passes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly kind: string; readonly reference: string }>`
    SELECT kind, reference::text AS reference FROM delay_notifications.passes ORDER BY completed_at, started_at`)

const at = (iso: string) => TestClock.setTime(Date.parse(iso))
const indexDueDate = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE INDEX IF NOT EXISTS todos_due_date ON todos ("dueDate")`)
const dropIndex = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP INDEX IF EXISTS todos_due_date`)

describe("what a run reads of the todos table", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a window reads the todos due from two days before the last complete reference; the next full pass sends what it missed, once", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* indexDueDate
        yield* insert([[1, "2022-05-01"], [2, "2022-06-03"], [3, "2022-06-11"]])
        yield* at("2022-06-10T12:00:00Z")
        const first = yield* runNow()
        expect(first.sent).toEqual([todoId(1), todoId(2)])
        // After the run: due in the window's first day and the day before it, and an import from long ago.
        yield* insert([[4, "2022-06-08"], [5, "2022-06-07"], [6, "2021-01-01"], [7, "2022-06-10"]])
        yield* at("2022-06-11T08:00:00Z")
        const window = yield* runNow()
        // From 2022-06-08 (2022-06-10 less two days) to 2022-06-11: 3, 4 and 7, not 5 or 6.
        expect(window.sent).toEqual([todoId(3), todoId(4), todoId(7)])
        expect(yield* passes).toEqual([{ kind: "full", reference: "2022-06-10" }, { kind: "window", reference: "2022-06-11" }])
        // A day after the first full pass began: the next run reads the whole table.
        yield* at("2022-06-11T12:00:00Z")
        const full = yield* runNow()
        expect(full.sent).toEqual([todoId(5), todoId(6)])
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "window", "full"])
        expect((yield* runNow()).sent).toEqual([])
      }))

    it.scoped("a todo whose due date moves from the future to before the window: missed by a window, sent by the next full pass, once", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* indexDueDate
        yield* insert([[1, "2022-06-01"], [2, "2022-09-01"]])
        yield* at("2022-06-10T12:00:00Z")
        expect((yield* runNow()).sent).toEqual([todoId(1)])
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE todos SET "dueDate" = '2022-05-15' WHERE id = ${todoId(2)}`)
        yield* at("2022-06-11T08:00:00Z")
        expect((yield* runNow()).sent).toEqual([])
        yield* at("2022-06-11T12:00:00Z")
        expect((yield* runNow()).sent).toEqual([todoId(2)])
        yield* at("2022-06-12T13:00:00Z")
        expect((yield* runNow()).sent).toEqual([])
      }))

    it.scoped("reads the whole table on the first run, for --at, once --full-pass-every has passed, and without an index (saying which one)", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* dropIndex
        yield* insert([[1, "2022-06-01"]])
        yield* at("2022-06-10T12:00:00Z")
        // No index: every run reads the whole table, and says once which index would spare it.
        const unindexed = yield* runNow()
        expect(unindexed.code).toBe(ExitCode.Success)
        const warnings = unindexed.logs.filter((line) => line.level === "WARN")
        expect(warnings.map((line) => line.message)).toEqual([
          "Reading the whole todos table: it has no index on \"dueDate\" by which a run could read only what is new."
        ])
        expect(warnings[0]!.annotations.createIndex).toBe("CREATE INDEX CONCURRENTLY ON todos (\"dueDate\")")
        yield* runNow()
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "full"])
        // With the index: a window, until the last full pass is older than --full-pass-every.
        yield* indexDueDate
        yield* at("2022-06-10T13:00:00Z")
        const windowed = yield* runNow()
        expect(windowed.logs.filter((line) => line.level === "WARN")).toEqual([])
        yield* at("2022-06-10T16:00:00Z")
        yield* runNow(["--full-pass-every", "3h"])
        // --at replays read the whole table, whatever the last full pass.
        yield* cli(["send-delay-notifications", "--at", "2022-06-10"], yield* layersOnDatabase(testClientLayer()))
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "full", "window", "full", "full"])
      }))

    it.effect("a read that stops halfway is not recorded: the next run reads from the last complete one", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* indexDueDate
        // Some 200 pages: the whole table in more than one part.
        yield* insertDelayedTodos(20_000, 20, "2022-06-01")
        const repository = yield* Effect.provide(TodoRepository, TodoRepositoryLive)
        const reference = CalendarDate.make("2022-06-10")
        const reading = yield* repository.planReading(reference, { replay: false, fullPassEvery: Duration.hours(24) })
        expect(reading).toEqual({ _tag: "FullPass", reason: "first-run" })
        // The first part, and then the run stops taking steps.
        const firstStep = yield* Stream.runCollect(Stream.take(repository.enqueueDelayed(reference, { reading }), 1))
        expect(Chunk.size(firstStep)).toBe(1)
        expect(Chunk.unsafeHead(firstStep).steps).toBeGreaterThan(1)
        expect(yield* passes).toEqual([])
        expect(yield* repository.planReading(reference, { replay: false, fullPassEvery: Duration.hours(24) }))
          .toEqual({ _tag: "FullPass", reason: "first-run" })
        yield* Stream.runDrain(repository.enqueueDelayed(reference, { reading }))
        expect(yield* passes).toEqual([{ kind: "full", reference: "2022-06-10" }])
        expect(yield* repository.planReading(CalendarDate.make("2022-06-11"), { replay: false, fullPassEvery: Duration.hours(24) }))
          .toEqual({ _tag: "Window", since: "2022-06-08" })
      }))

    it.scoped("two runs at once across a full pass's end: each todo sent once, and the next run reads a window", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* indexDueDate
        yield* insertDelayedTodos(3_000, 30, "2022-06-01")
        yield* at("2022-06-10T12:00:00Z")
        const client = yield* Layer.build(testClientLayer())
        const layers = yield* layersOnDatabase(Layer.succeedContext(client))
        const run = cli(["send-delay-notifications", "--now", "--batch-size", "50"], layers)
        const codes = yield* Effect.all([run, run], { concurrency: 2 })
        expect(codes).toEqual([ExitCode.Success, ExitCode.Success])
        const sent = (yield* Context.get(client, SentNotifications).all).map((n) => n.todoId)
        expect(sent.length).toBe(3_000)
        expect(new Set(sent).size).toBe(3_000)
        // Neither found a complete read when it began: both read the whole table.
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "full"])
        yield* insert([[1, "2022-06-10"]])
        yield* at("2022-06-10T13:00:00Z")
        expect((yield* runNow()).sent).toEqual([todoId(1)])
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "full", "window"])
      }))
  })
})
