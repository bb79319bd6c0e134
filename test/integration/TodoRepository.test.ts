import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Layer, Stream, TestClock } from "effect"
import { ousmaneTodoId, peterTodoId, workspace1 } from "../../dev/seedTodos.js"
import { ExitCode } from "../../src/Cli.js"
import { CalendarDate } from "../../src/domain/Todo.js"
import { SqlLive } from "../../src/layers/SqlLive.js"
import { TodoRepository } from "../../src/services/TodoRepository.js"
import { makeBacklog } from "../../src/services/TodoRepository/Backlog.js"
import { makeLedger } from "../../src/services/TodoRepository/Ledger.js"
import { TodoRepositoryLive, TodoRepositoryOnClockLive } from "../../src/services/TodoRepository/Live.js"
import {
  createTodosTable,
  insertDelayedTodos,
  layersOnDatabase,
  ledgerRows,
  migrateLedger,
  seedDatabase,
  TestDatabaseLive
} from "../support/database.js"
import { captureLogs, cli, sendOnly } from "../support/TestApp.js"
import { SentNotifications, testClientLayer } from "../support/TestClient.js"

/** Runs the CLI in-process on the live repository over this file's database and a recording client. */
const runOnDatabase = (args: ReadonlyArray<string>, clientOptions: Parameters<typeof testClientLayer>[0] = {}) =>
  Effect.gen(function*() {
    const client = yield* Layer.build(testClientLayer(clientOptions))
    const logs = yield* captureLogs
    const layers = yield* layersOnDatabase(Layer.succeedContext(client))
    const code = yield* cli(["send-delay-notifications", ...args], layers).pipe(Effect.provide(logs.layer))
    const sent = yield* Context.get(client, SentNotifications).all
    return { code, sent, logs: logs.lines }
  })

/** What the ledger takes in and hands out for a reference date, on a fresh ledger. */
const delayedIds = (reference: string) =>
  Effect.gen(function*() {
    yield* migrateLedger
    const repository = yield* TodoRepository
    yield* Stream.runDrain(repository.enqueueDelayed(CalendarDate.make(reference)))
    const claimed = yield* repository.claim({ owner: crypto.randomUUID(), size: 100, lease: Duration.zero, order: "oldest-first" })
    return claimed.todos.map((todo) => [todo.id, todo.dueDate])
  }).pipe(Effect.provide(TodoRepositoryLive))

describe("TodoRepository on PostgreSQL", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.effect("finds exactly the seed's two delayed todos at 2022-06-03, oldest first", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        expect(yield* delayedIds("2022-06-03")).toEqual([[peterTodoId, "2020-06-11"], [ousmaneTodoId, "2020-07-14"]])
      }))

    it.effect("counts a todo due on the reference date, not one due the day after", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        expect((yield* delayedIds("2020-07-14")).map(([id]) => id)).toEqual([peterTodoId, ousmaneTodoId])
        expect((yield* delayedIds("2020-07-13")).map(([id]) => id)).toEqual([peterTodoId])
        expect(yield* delayedIds("2020-06-10")).toEqual([])
      }))

    it.effect("keeps due dates as calendar dates whatever the process's time zone", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const original = process.env.TZ
        try {
          for (const tz of ["Pacific/Kiritimati", "America/Adak", "UTC"]) {
            process.env.TZ = tz
            expect(yield* delayedIds("2020-06-11")).toEqual([[peterTodoId, "2020-06-11"]])
          }
        } finally {
          if (original === undefined) delete process.env.TZ
          else process.env.TZ = original
        }
      }))

    it.scoped("sends the seed's two notifications through the command, and the time zone of --at decides", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const utc = yield* runOnDatabase(["--at", "2020-06-10T23:30:00Z"])
        expect(utc.sent).toEqual([])
        const berlin = yield* runOnDatabase(["--at", "2020-06-10T23:30:00Z", "--time-zone", "Europe/Berlin"])
        expect(berlin.sent.map((n) => n.todoId)).toEqual([peterTodoId])
        const seedRun = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(seedRun.code).toBe(ExitCode.Success)
        expect(seedRun.sent.map((n) => n.todoId)).toEqual([ousmaneTodoId])
      }))

    it.scoped("streams 50,000 delayed todos and sends each exactly once", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(50_000, 37)
        const run = yield* runOnDatabase(["--at", "2022-06-03", "--concurrency", "64"])
        expect(run.code).toBe(ExitCode.Success)
        expect(run.sent.length).toBe(50_000)
        expect(new Set(run.sent.map((n) => n.todoId)).size).toBe(50_000)
        expect(run.logs.at(-1)?.annotations).toMatchObject({ delayed: 50_000, sent: 50_000, failed: 0 })
      }), { timeout: 120_000 })

    it.scoped("todos known in the first pages, new ones after them: added from the page where they start, each sent once", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        // Some 200 pages of todos an earlier run sent, then as many that became due since.
        yield* insertDelayedTodos(20_000, 20, "2020-01-01")
        yield* insertDelayedTodos(20_000, 20, "2022-07-01")
        const earlier = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(earlier.sent.length).toBe(20_000)
        const reader = makeBacklog(yield* makeLedger("database")).reader
        expect(yield* reader.partsWithNew(CalendarDate.make("2022-06-03"), 0)).toEqual([])
        const [{ first }] = yield* sql<{ readonly first: number }>`
          SELECT min((ctid::text::point)[0])::int AS first FROM todos WHERE "dueDate" = '2022-07-01'`
        expect(first).toBeGreaterThan(128)
        const parts = yield* reader.partsWithNew(CalendarDate.make("2022-08-01"), 64)
        expect(parts[0]).toEqual({ from: first, to: first + 64 })
        expect(parts.at(-1)?.to).toBeUndefined()
        const later = yield* runOnDatabase(["--at", "2022-08-01"])
        expect(later.code).toBe(ExitCode.Success)
        expect(later.sent.length).toBe(20_000)
        expect(new Set(later.sent.map((n) => n.todoId)).size).toBe(20_000)
        expect(yield* reader.partsWithNew(CalendarDate.make("2022-08-01"), 0)).toEqual([])
      }), { timeout: 120_000 })

    it.scoped("aborts with exit 1 and sends nothing when the query fails (no todos table)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* migrateLedger
        yield* sql`DROP TABLE IF EXISTS todos`
        const run = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(run.code).toBe(ExitCode.Aborted)
        expect(run.sent).toEqual([])
        const abort = run.logs.find((l) => l.level === "ERROR")
        expect(abort?.message).toBe("Could not retrieve delayed todos from the database. Aborting job...")
        expect(String(abort?.annotations.error)).toContain(`relation "todos" does not exist`)
      }))

    it.scoped("aborts with one clear message when the todos table lacks a column", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        yield* sql`ALTER TABLE todos DROP COLUMN "dueDate"`
        const run = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(run.code).toBe(ExitCode.Aborted)
        expect(run.sent).toEqual([])
        expect(String(run.logs.find((l) => l.level === "ERROR")?.annotations.error)).toContain(
          `the todos table has no column "dueDate"`
        )
        yield* sql`DROP TABLE todos`
      }))

    it.scoped("reports a row that does not decode with its key, skips it, and sends the others (exit 3)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        // Someone changed the columns' types by hand and stored values that are not a uuid or a date.
        yield* sql`ALTER TABLE todos ALTER COLUMN id TYPE text, ALTER COLUMN "dueDate" TYPE text`
        yield* sql`INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
                   VALUES ('not-a-uuid', 'Broken', 'Nobody', '2021-01-01', ${workspace1}),
                          ('0b7c4a0e-5a43-4d56-9d7a-2f3b3c1b9e10', 'Broken', 'Nobody', '2021-02-30', ${workspace1})`
        const run = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(run.code).toBe(ExitCode.SomeFailed)
        expect(run.sent.map((n) => n.todoId).sort()).toEqual([ousmaneTodoId, peterTodoId].sort())
        const reports = run.logs.filter((l) => l.message === "Could not read delayed todo. Skipping it...")
        expect(reports.map((r) => r.annotations.todoId).sort()).toEqual(["0b7c4a0e-5a43-4d56-9d7a-2f3b3c1b9e10", "not-a-uuid"])
        expect(reports.every((r) => r.annotations.workspaceId === workspace1)).toBe(true)
        yield* sql`DROP TABLE todos`
      }))
    it.scoped("in the tolerant mode, ids in another spelling (upper case, braces) are the same todo: sent once over two runs", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        yield* sql`ALTER TABLE todos ALTER COLUMN id TYPE text, ALTER COLUMN "workspaceId" TYPE text`
        yield* sql`UPDATE todos SET id = '{' || upper(id) || '}', "workspaceId" = upper("workspaceId") WHERE id = ${peterTodoId}`
        // Not due yet, and its ids unreadable: nothing to report, so no exit 3.
        yield* sql`INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
                   VALUES ('not-a-uuid', 'Later', 'Nobody', '2030-01-01', 'neither')`
        const first = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(first.code).toBe(ExitCode.Success)
        expect(first.sent.map((n) => n.todoId).sort()).toEqual([ousmaneTodoId, peterTodoId].sort())
        const second = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(second.code).toBe(ExitCode.Success)
        expect(second.sent).toEqual([])
        yield* sql`DROP TABLE todos`
      }))

    it.scoped("TODOS_TABLE names a todos table in another schema, for send and for prune", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        yield* sql`CREATE SCHEMA IF NOT EXISTS app`
        yield* sql`ALTER TABLE todos SET SCHEMA app`
        const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TODOS_TABLE", "app.todos"]])))
        const run = yield* runOnDatabase(["--at", "2022-06-03"]).pipe(Effect.provide(config))
        expect(run.code).toBe(ExitCode.Success)
        expect(run.sent.map((n) => n.todoId).sort()).toEqual([ousmaneTodoId, peterTodoId].sort())
        const missing = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(missing.code).toBe(ExitCode.Aborted)
        expect(String(missing.logs.find((l) => l.level === "ERROR")?.annotations.error)).toContain('relation "todos" does not exist')
        // prune reads the same table: both todos exist there, so it keeps both (old) rows.
        yield* TestClock.adjust("31 days")
        const layers = yield* layersOnDatabase(Layer.die("no client"))
        const logs = yield* captureLogs
        const code = yield* cli(["prune", "--retention", "30d"], layers).pipe(Effect.provide(logs.layer), Effect.provide(config))
        expect(code).toBe(ExitCode.Success)
        expect(logs.lines.at(-1)?.annotations).toMatchObject({ pruned: 0, todosTable: "app.todos" })
        yield* sql`DROP SCHEMA app CASCADE`
      }))

    it.scoped("leases come from the database's clock: a process whose clock runs a day ahead takes over no live claim", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const repository = yield* Effect.provide(TodoRepository, TodoRepositoryLive)
        yield* Stream.runDrain(repository.enqueueDelayed(CalendarDate.make("2022-06-03")))
        const first = yield* repository.claim({ owner: crypto.randomUUID(), size: 10, lease: Duration.minutes(5), order: "oldest-first" })
        expect(first.todos.length).toBe(2)
        yield* TestClock.adjust("1 day")
        const second = yield* repository.claim({ owner: crypto.randomUUID(), size: 10, lease: Duration.minutes(5), order: "oldest-first" })
        expect(second.todos).toEqual([])
      }))

    it.scoped("a claim writes nothing to the ledger's rows, and their outcomes go in place (no index entry), even a whole batch's pages; renewed by their keys", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        // One due date: a batch takes the rows in the order they were added, every row of a page.
        yield* insertDelayedTodos(2_000, 20, "2021-01-01")
        const repository = yield* Effect.provide(TodoRepository, TodoRepositoryLive)
        yield* Stream.runDrain(repository.enqueueDelayed(CalendarDate.make("2022-06-03"), { batchSize: 500 }))
        // Updates of the ledger this session has made, and those PostgreSQL made heap-only (HOT:
        // the new version on the same page, no index touched).
        const updates = Effect.map(
          sql<{ readonly updated: number; readonly inPlace: number }>`
            SELECT pg_stat_get_xact_tuples_updated(c.oid)::int AS updated,
                   pg_stat_get_xact_tuples_hot_updated(c.oid)::int AS "inPlace"
            FROM pg_class c WHERE c.oid = 'delay_notifications.notifications'::regclass`,
          (rows) => rows[0]!
        )
        const counted = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          sql.withTransaction(Effect.gen(function*() {
            const before = yield* updates
            const result = yield* effect
            const after = yield* updates
            return { result, updated: after.updated - before.updated, inPlace: after.inPlace - before.inPlace }
          }))
        const owner = crypto.randomUUID()
        const claim = yield* counted(repository.claim({ owner, size: 500, lease: Duration.minutes(5), order: "oldest-first" }))
        expect(claim.result.todos.length).toBe(500)
        expect({ updated: claim.updated, inPlace: claim.inPlace }).toEqual({ updated: 0, inPlace: 0 })
        expect(yield* repository.renew(owner, Duration.minutes(5), claim.result.todos)).toBe(500)
        expect(yield* repository.renew(crypto.randomUUID(), Duration.minutes(5), claim.result.todos)).toBe(0)
        const written = yield* counted(repository.record(owner, claim.result.todos.map((todo) => ({ _tag: "Sent" as const, todo }))))
        expect(written.result.notHeld).toEqual([])
        expect({ updated: written.updated, inPlace: written.inPlace }).toEqual({ updated: 500, inPlace: 500 })
      }))

    it.scoped("record reports the outcomes of claims another run took over, and writes none of them", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const repository = yield* Effect.provide(TodoRepository, TodoRepositoryOnClockLive)
        yield* Stream.runDrain(repository.enqueueDelayed(CalendarDate.make("2022-06-03")))
        const [a, b] = [crypto.randomUUID(), crypto.randomUUID()]
        const byA = yield* repository.claim({ owner: a, size: 10, lease: Duration.minutes(1), order: "oldest-first" })
        // A's lease runs out and B takes both todos over.
        yield* TestClock.adjust("2 minutes")
        const byB = yield* repository.claim({ owner: b, size: 10, lease: Duration.minutes(5), order: "oldest-first" })
        expect(byB.todos.length).toBe(2)
        const late = yield* repository.record(a, byA.todos.map((todo) => ({ _tag: "Sent" as const, todo })))
        expect(late.notHeld.map((o) => o.todo.id).sort()).toEqual(byA.todos.map((t) => t.id).sort())
        expect((yield* ledgerRows).map((r) => [r.state, r.claimedBy])).toEqual([["pending", b], ["pending", b]])
        const onTime = yield* repository.record(b, byB.todos.map((todo) => ({ _tag: "Sent" as const, todo })))
        expect(onTime.notHeld).toEqual([])
      }))
  })

  it.effect("aborts with exit 1 and sends nothing when the database cannot be reached", () =>
    Effect.gen(function*() {
      const client = yield* Layer.build(testClientLayer())
      const logs = yield* captureLogs
      const unreachable = ConfigProvider.fromMap(new Map([["DATABASE_URL", "postgres://job:pw@127.0.0.1:9/todos"]]))
      const layers = sendOnly(
        Layer.merge(
          TodoRepositoryLive.pipe(Layer.provide(SqlLive), Layer.provide(Layer.setConfigProvider(unreachable))),
          Layer.succeedContext(client)
        )
      )
      const code = yield* cli(["send-delay-notifications", "--at", "2022-06-03"], layers).pipe(Effect.provide(logs.layer))
      expect(code).toBe(ExitCode.Aborted)
      expect(logs.lines.find((l) => l.level === "ERROR")?.message).toBe("Could not connect to the database. Aborting job...")
      expect(String(logs.lines.find((l) => l.level === "ERROR")?.annotations.error)).toContain("ECONNREFUSED")
      expect(yield* Context.get(client, SentNotifications).all).toEqual([])
    }).pipe(Effect.scoped))
})
