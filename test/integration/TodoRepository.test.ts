import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Stream } from "effect"
import { ousmaneTodoId, peterTodoId, workspace1 } from "../../dev/seedTodos.js"
import { ExitCode } from "../../src/Cli.js"
import { CalendarDate } from "../../src/domain/Todo.js"
import { SqlLive } from "../../src/layers/SqlLive.js"
import { NotificationClient, SentNotifications } from "../../src/services/NotificationClient.js"
import { TodoRepository } from "../../src/services/TodoRepository.js"
import { createTodosTable, insertDelayedTodos, seedDatabase, TestDatabaseLive } from "../support/database.js"
import { captureLogs, cli } from "../support/TestApp.js"

const date = CalendarDate.make

/** Runs the CLI in-process on the live repository over this file's database and a recording client. */
const runOnDatabase = (args: ReadonlyArray<string>, clientOptions: Parameters<typeof NotificationClient.testLayer>[0] = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const client = yield* Layer.build(NotificationClient.testLayer(clientOptions))
    const logs = yield* captureLogs
    const appLayer = Layer.merge(
      TodoRepository.layer.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient, sql))),
      Layer.succeedContext(client)
    )
    const code = yield* cli(["send-delay-notifications", ...args], appLayer).pipe(Effect.provide(logs.layer))
    const sent = yield* Context.get(client, SentNotifications).all
    return { code, sent, logs: logs.lines }
  })

const delayedIds = (reference: string) =>
  Effect.gen(function*() {
    const repository = yield* TodoRepository
    const rows = yield* Stream.runCollect(repository.delayedTodos(date(reference)))
    return [...rows].map((row) => (row._tag === "Right" ? row.right.id : `invalid:${row.left.todoId}`))
  }).pipe(Effect.provide(TodoRepository.layer))

describe("TodoRepository on PostgreSQL", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.effect("finds exactly the seed's two delayed todos at 2022-06-03, oldest first", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        expect(yield* delayedIds("2022-06-03")).toEqual([peterTodoId, ousmaneTodoId])
      }))

    it.effect("counts a todo due on the reference date, not one due the day after", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        expect(yield* delayedIds("2020-07-14")).toEqual([peterTodoId, ousmaneTodoId])
        expect(yield* delayedIds("2020-07-13")).toEqual([peterTodoId])
        expect(yield* delayedIds("2020-06-10")).toEqual([])
      }))

    it.effect("keeps due dates as calendar dates whatever the process's time zone", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const original = process.env.TZ
        try {
          for (const tz of ["Pacific/Kiritimati", "America/Adak", "UTC"]) {
            process.env.TZ = tz
            const repository = yield* TodoRepository
            const rows = yield* Stream.runCollect(repository.delayedTodos(date("2020-06-11")))
            expect([...rows].map((row) => row._tag === "Right" && row.right.dueDate)).toEqual(["2020-06-11"])
          }
        } finally {
          if (original === undefined) delete process.env.TZ
          else process.env.TZ = original
        }
      }).pipe(Effect.provide(TodoRepository.layer)))

    it.scoped("sends the seed's two notifications through the command, and the time zone of --at decides", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const seedRun = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(seedRun.code).toBe(ExitCode.Success)
        expect(seedRun.sent.map((n) => n.todoId).sort()).toEqual([ousmaneTodoId, peterTodoId].sort())
        const utc = yield* runOnDatabase(["--at", "2020-06-10T23:30:00Z"])
        expect(utc.sent).toEqual([])
        const berlin = yield* runOnDatabase(["--at", "2020-06-10T23:30:00Z", "--time-zone", "Europe/Berlin"])
        expect(berlin.sent.map((n) => n.todoId)).toEqual([peterTodoId])
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

    it.scoped("aborts with exit 1 and sends nothing when the query fails (no todos table)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP TABLE IF EXISTS todos`
        const run = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(run.code).toBe(ExitCode.Aborted)
        expect(run.sent).toEqual([])
        const abort = run.logs.find((l) => l.level === "ERROR")
        expect(abort?.message).toBe("Could not retrieve delayed todos from the database. Aborting job...")
        expect(String(abort?.annotations.error)).toContain(`relation "todos" does not exist`)
      }))

    it.scoped("reports a row that does not decode with its key, skips it, and sends the others (exit 3)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        // Someone changed the column's type by hand and stored a value that is not a uuid.
        yield* sql`ALTER TABLE todos ALTER COLUMN id TYPE text`
        yield* sql`INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
                   VALUES ('not-a-uuid', 'Broken', 'Nobody', '2021-01-01', ${workspace1})`
        const run = yield* runOnDatabase(["--at", "2022-06-03"])
        expect(run.code).toBe(ExitCode.SomeFailed)
        expect(run.sent.map((n) => n.todoId).sort()).toEqual([ousmaneTodoId, peterTodoId].sort())
        const report = run.logs.find((l) => l.message === "Could not read delayed todo. Skipping it...")
        expect(report?.annotations).toMatchObject({ workspaceId: workspace1, todoId: "not-a-uuid" })
        yield* sql`DROP TABLE todos`
      }))
  })

  it.effect("aborts with exit 1 and sends nothing when the database cannot be reached", () =>
    Effect.gen(function*() {
      const client = yield* Layer.build(NotificationClient.testLayer())
      const logs = yield* captureLogs
      const unreachable = ConfigProvider.fromMap(new Map([["DATABASE_URL", "postgres://job:pw@127.0.0.1:9/todos"]]))
      const appLayer = Layer.merge(
        TodoRepository.layer.pipe(Layer.provide(SqlLive), Layer.provide(Layer.setConfigProvider(unreachable))),
        Layer.succeedContext(client)
      )
      const code = yield* cli(["send-delay-notifications", "--at", "2022-06-03"], appLayer).pipe(Effect.provide(logs.layer))
      expect(code).toBe(ExitCode.Aborted)
      expect(logs.lines.find((l) => l.level === "ERROR")?.message).toBe("Could not connect to the database. Aborting job...")
      expect(String(logs.lines.find((l) => l.level === "ERROR")?.annotations.error)).toContain("ECONNREFUSED")
      expect(yield* Context.get(client, SentNotifications).all).toEqual([])
    }).pipe(Effect.scoped))
})
