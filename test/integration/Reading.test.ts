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
import { endingOf } from "../../src/Endings.js"
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
/** The database's clock now (epoch ms): the TestClock set to it makes the host's agree. */
const databaseNow = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly at: number }>`SELECT (extract(epoch FROM now()) * 1000)::float8 AS at`)
  .pipe(Effect.map((rows) => rows[0]!.at))
const indexDueDate = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE INDEX IF NOT EXISTS todos_due_date ON todos ("dueDate")`)
const dropIndex = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP INDEX IF EXISTS todos_due_date`)

/** The todos table with its index on "dueDate" and one todo due 2022-06-01, at 2022-06-10 12:00. */
const indexedWithOneTodo = Effect.gen(function*() {
  yield* createTodosTable
  yield* indexDueDate
  yield* insert([[1, "2022-06-01"]])
  yield* at("2022-06-10T12:00:00Z")
})

/**
 * Some 200 pages of todos due 2022-06-01 (a full pass of more than one part), indexed, and the
 * live repository on the database's clock (the TestClock set to it): at reference 2022-06-10.
 */
const largeTableOnDatabaseTime = Effect.gen(function*() {
  yield* createTodosTable
  yield* indexDueDate
  yield* insertDelayedTodos(20_000, 20, "2022-06-01")
  yield* TestClock.setTime(yield* databaseNow)
  return { reference: CalendarDate.make("2022-06-10"), repository: yield* Effect.provide(TodoRepository, TodoRepositoryLive) }
})

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
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "full", "window", "full", "replay"])
      }))

    it.scoped("a replay is recorded as one: it never stands for the full pass --full-pass-every waits for", () =>
      Effect.gen(function*() {
        yield* indexedWithOneTodo
        expect((yield* runNow()).sent).toEqual([todoId(1)])
        // Due five days back, before any window: only a full pass finds it.
        yield* insert([[2, "2022-06-05"]])
        yield* at("2022-06-10T14:00:00Z")
        const replay = yield* cli(["send-delay-notifications", "--at", "2000-01-01"], yield* layersOnDatabase(testClientLayer()))
        expect(replay).toBe(ExitCode.Success)
        // The last full pass began two hours ago: one is due, the replay notwithstanding.
        expect((yield* runNow(["--full-pass-every", "1h"])).sent).toEqual([todoId(2)])
        expect(yield* passes).toEqual([
          { kind: "full", reference: "2022-06-10" },
          { kind: "replay", reference: "2000-01-01" },
          { kind: "full", reference: "2022-06-10" }
        ])
      }))

    it.scoped("an --at after today says it sends todos before their due date, and narrows no later window", () =>
      Effect.gen(function*() {
        yield* indexedWithOneTodo
        yield* insert([[3, "2022-07-01"]])
        expect((yield* runNow(["--full-pass-every", "30d"])).sent).toEqual([todoId(1)])
        yield* at("2022-06-15T08:00:00Z")
        const client = yield* Layer.build(testClientLayer())
        const logs = yield* captureLogs
        const ahead = yield* cli(["send-delay-notifications", "--at", "2022-07-15"], yield* layersOnDatabase(Layer.succeedContext(client)))
          .pipe(Effect.provide(logs.layer))
        expect(ahead).toBe(ExitCode.Success)
        expect((yield* Context.get(client, SentNotifications).all).map((n) => n.todoId as string)).toEqual([todoId(3)])
        const warnings = logs.lines.filter((line) => line.level === "WARN")
        expect(warnings.map((line) => line.message)).toEqual(["--at is after today: todos due up to it are sent before their due date."])
        expect(warnings[0]!.annotations).toMatchObject({ reference: "2022-07-15", today: "2022-06-15" })
        // Due after the last run's window began (2022-06-08) and before today: the next window reads it.
        yield* insert([[2, "2022-06-12"]])
        const next = yield* runNow(["--full-pass-every", "30d"])
        expect(next.sent).toEqual([todoId(2)])
        expect(next.logs.filter((line) => line.level === "WARN")).toEqual([])
        expect((yield* passes).map((pass) => pass.kind)).toEqual(["full", "replay", "window"])
      }))

    it.scoped("a record of reads dated after now (a clock stepped back, a restore) is not trusted: said, and a full pass", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* indexedWithOneTodo
        yield* runNow()
        // The last full pass 30 days ahead: a window would have been read for a month.
        yield* sql`UPDATE delay_notifications.passes SET started_at = started_at + interval '30 days'`
        yield* insert([[2, "2022-06-05"]])
        yield* at("2022-06-10T14:00:00Z")
        const afterPass = yield* runNow(["--full-pass-every", "1h"])
        expect(afterPass.sent).toEqual([todoId(2)])
        const warned = afterPass.logs.filter((line) => line.level === "WARN")
        expect(warned.map((line) => line.message)).toEqual([
          "The record of earlier reads is dated after now (a clock stepped back, or a restore): not trusted; reading the whole todos table."
        ])
        expect(warned[0]!.annotations).toMatchObject({ lastFullPassAt: "2022-07-10T12:00:00.000Z" })
        // A reference ahead of today, as a host whose clock ran days ahead records.
        yield* sql`DELETE FROM delay_notifications.passes`
        yield* runNow()
        yield* sql`UPDATE delay_notifications.passes SET reference = reference + 30`
        yield* insert([[3, "2022-06-09"]])
        yield* at("2022-06-10T15:00:00Z")
        const afterReference = yield* runNow(["--full-pass-every", "24h"])
        expect(afterReference.sent).toEqual([todoId(3)])
        expect(afterReference.logs.filter((line) => line.level === "WARN")[0]!.annotations).toMatchObject({ lastReference: "2022-07-10" })
      }))

    it.effect("on the database's clock, a host clock more than 5 minutes off stops the run before it reads anything: one line, exit 1", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        const repository = yield* Effect.provide(TodoRepository, TodoRepositoryLive)
        // The host's clock in 2000; the database's, today.
        yield* at("2000-01-01T00:00:00Z")
        const error = yield* Effect.flip(repository.planReading(CalendarDate.make("2022-06-10"), { replay: false, fullPassEvery: Duration.hours(24) }))
        expect(error._tag).toBe("ClocksDisagree")
        expect(error.message).toMatch(/^the host's clock reads 2000-01-01T00:00:00\.000Z and the database's \d{4}-.+ s apart \(at most 5 minutes\): set both right \(NTP\) and run again$/)
        expect(endingOf(error, "running")).toEqual({ line: "The host's clock and the database's disagree. Aborting job...", detail: error.message, code: ExitCode.Aborted })
        // Within the margin, it plans.
        yield* TestClock.setTime((yield* databaseNow) + 4 * 60_000)
        expect(yield* repository.planReading(CalendarDate.make("2022-06-10"), { replay: false, fullPassEvery: Duration.hours(24) }))
          .toEqual({ _tag: "FullPass", reason: "first-run" })
      }))

    it.effect("a read that stops halfway is not recorded: the next run reads from the last complete one", () =>
      Effect.gen(function*() {
        const { reference, repository } = yield* largeTableOnDatabaseTime
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

    it.effect("a full pass across which the table was rewritten (VACUUM FULL, CLUSTER, pg_repack) is not recorded: the next run reads the whole table again", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { reference, repository } = yield* largeTableOnDatabaseTime
        const plan = repository.planReading(reference, { replay: false, fullPassEvery: Duration.hours(24) })
        const reading = yield* plan
        const logs = yield* captureLogs
        // The first part, then the table rewritten (its rows may move to pages already read), then the rest.
        yield* Stream.runDrain(Stream.mapEffect(repository.enqueueDelayed(reference, { reading }), (step) =>
          step.step === 1 ? sql`VACUUM FULL todos` : Effect.void)).pipe(Effect.provide(logs.layer))
        expect(yield* passes).toEqual([])
        expect(logs.lines.filter((line) => line.level === "WARN").map((line) => line.message)).toEqual([
          "The todos table was rewritten while the run read it (CLUSTER, VACUUM FULL, pg_repack): this read is not recorded; the next run reads the whole table again."
        ])
        expect(yield* plan).toEqual({ _tag: "FullPass", reason: "first-run" })
        // Read again with nothing rewritten: recorded.
        yield* Stream.runDrain(repository.enqueueDelayed(reference, { reading }))
        expect(yield* passes).toEqual([{ kind: "full", reference: "2022-06-10" }])
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
