import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Stream, TestClock } from "effect"
import { serveFakeNotify } from "../../dev/fakeNotify/FakeNotify.js"
import { ousmaneTodoId, peterTodoId, seedTodos, workspace1 } from "../../dev/seedTodos.js"
import { ExitCode } from "../../src/Cli.js"
import { CalendarDate } from "../../src/domain/Todo.js"
import { TodoRepository } from "../../src/services/TodoRepository.js"
import { TodoRepositoryOnClockLive } from "../../src/services/TodoRepository/Live.js"
import { latestMigrationId } from "../../src/migrations/index.js"
import { layersOnDatabase, ledgerRows, seedDatabase, TestDatabaseLive } from "../support/database.js"
import { clientId, clientSecret, liveClientLayer } from "../support/notify.js"
import { captureConsole, captureLogs, cli } from "../support/TestApp.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

/** The fake notify service for the seed's todos, and a runner of the CLI in-process against it and the database. */
const setup = (fakeOptions: Parameters<typeof serveFakeNotify>[0] = {}, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fake = yield* serveFakeNotify({ clientId, clientSecret, workspaceOf: (id) => owner.get(id), ...fakeOptions })
    const layers = yield* layersOnDatabase(liveClientLayer(fake.url, env))
    const run = (...args: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const logs = yield* captureLogs
        const code = yield* cli(args, layers).pipe(Effect.provide(logs.layer))
        return { code, logs: logs.lines }
      })
    const send = (...args: ReadonlyArray<string>) => run("send-delay-notifications", "--at", "2022-06-03", ...args)
    const messages = () => fake.state.notifications.map((n) => n.message)
    return { fake, layers, run, send, messages }
  })

describe("exactly once, across runs", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a second run right after a complete run sends nothing, exits 0 and says nothing was pending", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const { fake, send } = yield* setup()
        expect((yield* send()).code).toBe(ExitCode.Success)
        expect(fake.state.notifications.length).toBe(2)
        const second = yield* send()
        expect(second.code).toBe(ExitCode.Success)
        expect(second.logs.map((l) => l.message)).toContain("Nothing was pending.")
        expect(fake.state.notifyRequests).toBe(2)
        expect((yield* ledgerRows).map((r) => r.state)).toEqual(["sent", "sent"])
      }))

    it.scoped("a todo whose due date moved gets a new notification; an unchanged one never a second", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const { fake, send } = yield* setup()
        yield* send()
        yield* sql`UPDATE todos SET "dueDate" = '2021-03-01' WHERE id = ${peterTodoId}`
        expect((yield* send()).code).toBe(ExitCode.Success)
        yield* send()
        const sent = fake.state.notifications.map((n) => [n.message, n.idempotencyKey])
        expect(sent.length).toBe(3)
        expect(sent.slice(0, 2)).toContainEqual(
          [`Todo ${peterTodoId} is delayed`, `delay-notification:${workspace1}:${peterTodoId}:2020-06-11`]
        )
        expect(sent.slice(0, 2)).toContainEqual([`Todo ${ousmaneTodoId} is delayed`, expect.stringContaining(ousmaneTodoId)])
        expect(sent[2]).toEqual(
          [`Todo ${peterTodoId} is delayed`, `delay-notification:${workspace1}:${peterTodoId}:2021-03-01`]
        )
        expect(fake.state.duplicates).toBe(0)
      }))

    it.scoped("a failing notification is retried by later runs with a growing delay, then kept as a dead letter", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        // No retries within a run here: this is about the tries across runs.
        const { fake, messages, run, send } = yield* setup({ failTodos: [peterTodoId], failStatus: 500 }, {
          NOTIFY_RETRIES: "0"
        })
        const options = ["--max-attempts", "3", "--retry-delay", "10m"]
        const peterAttempts = () => Effect.map(ledgerRows, (rows) => rows.find((r) => r.todoId === peterTodoId)!)

        const first = yield* send(...options)
        expect(first.code).toBe(ExitCode.SomeFailed)
        expect(messages()).toEqual([`Todo ${ousmaneTodoId} is delayed`])
        expect(yield* peterAttempts()).toMatchObject({ state: "pending", attempts: 1, nextAttemptAt: "1970-01-01T00:10:00Z" })

        // Not due again yet: nothing is tried.
        yield* TestClock.adjust("9 minutes")
        expect((yield* send(...options)).code).toBe(ExitCode.Success)
        expect(fake.state.answers[500]).toBe(1)

        yield* TestClock.adjust("1 minute")
        expect((yield* send(...options)).code).toBe(ExitCode.SomeFailed)
        expect(yield* peterAttempts()).toMatchObject({ attempts: 2, nextAttemptAt: "1970-01-01T00:30:00Z" })

        yield* TestClock.adjust("19 minutes")
        yield* send(...options)
        expect(fake.state.answers[500]).toBe(2)
        yield* TestClock.adjust("1 minute")
        const last = yield* send(...options)
        expect(last.code).toBe(ExitCode.SomeFailed)
        expect(last.logs.find((l) => l.level === "ERROR")?.annotations).toMatchObject({
          todoId: peterTodoId,
          attempt: 3,
          deadLetter: true
        })
        expect(yield* peterAttempts()).toMatchObject({ state: "dead", attempts: 3 })

        // A dead letter is no longer tried, however long one waits.
        yield* TestClock.adjust("30 days")
        yield* send(...options)
        expect(fake.state.answers[500]).toBe(3)

        const status = yield* captureConsole(run("status"))
        expect(status.result.code).toBe(ExitCode.Success)
        expect(status.output).toContain("sent 1   dead 1")
        expect(status.output).toContain(`workspace ${workspace1}  todo ${peterTodoId}  due 2020-06-11  attempts 3`)
        expect(status.output).toContain(`last error: HTTP 500: {"message":"Injected failure"}`)

        fake.behaviour.failTodos = []
        expect((yield* run("requeue", "--todo", peterTodoId)).code).toBe(ExitCode.Success)
        expect((yield* send(...options)).code).toBe(ExitCode.Success)
        expect(messages()).toEqual([`Todo ${ousmaneTodoId} is delayed`, `Todo ${peterTodoId} is delayed`])
        expect((yield* ledgerRows).map((r) => r.state)).toEqual(["sent", "sent"])
      }))

    it.scoped("a todo deleted between claim and send is not notified and leaves no stuck claim", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const { messages, send } = yield* setup()
        // A run claims both delayed todos and dies before sending.
        const claimed = yield* Effect.gen(function*() {
          const repository = yield* TodoRepository
          yield* Stream.runDrain(repository.enqueueDelayed(CalendarDate.make("2022-06-03")))
          return yield* repository.claim({
            owner: crypto.randomUUID(),
            size: 10,
            lease: Duration.minutes(5),
            order: "oldest-first"
          })
        }).pipe(Effect.provide(TodoRepositoryOnClockLive))
        expect(claimed.todos.length).toBe(2)
        yield* sql`DELETE FROM todos WHERE id = ${peterTodoId}`
        // While the claims hold, another run takes nothing.
        expect((yield* send()).logs.map((l) => l.message)).toContain("Nothing was pending.")
        yield* TestClock.adjust("5 minutes")
        expect((yield* send()).code).toBe(ExitCode.Success)
        expect(messages()).toEqual([`Todo ${ousmaneTodoId} is delayed`])
        expect(yield* ledgerRows).toEqual([expect.objectContaining({ todoId: ousmaneTodoId, state: "sent", claimedBy: null })])
      }))

    it.scoped("migrate is idempotent; send on an unmigrated database exits 1 saying to run migrate", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const { fake, run, send } = yield* setup()
        yield* sql`DROP SCHEMA delay_notifications CASCADE`
        const refused = yield* send()
        expect(refused.code).toBe(ExitCode.Aborted)
        expect(String(refused.logs.find((l) => l.level === "ERROR")?.annotations.error)).toContain(
          "run the job's migrate command first (`node dist/main.js migrate`; with the image, `migrate` as the container's command)"
        )
        expect(fake.state.notifyRequests).toBe(0)
        const first = yield* run("migrate")
        expect(first.code).toBe(ExitCode.Success)
        expect(first.logs.at(-1)?.message).toBe("Migrated the job's schema.")
        const second = yield* run("migrate")
        expect(second.code).toBe(ExitCode.Success)
        expect(second.logs.at(-1)?.message).toBe("The job's schema is current.")
        const applied = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM delay_notifications.migrations`
        expect(applied[0]?.n).toBe(latestMigrationId)
        expect((yield* send()).code).toBe(ExitCode.Success)
        expect(fake.state.notifications.length).toBe(2)
      }))

    it.scoped("prune deletes old rows of deleted or moved todos and keeps those that still guard a todo", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const { fake, run, send } = yield* setup()
        yield* send()
        yield* sql`DELETE FROM todos WHERE id = ${ousmaneTodoId}`
        expect((yield* run("prune", "--retention", "30d")).logs.at(-1)?.annotations).toMatchObject({ pruned: 0 })
        yield* TestClock.adjust("31 days")
        expect((yield* run("prune", "--retention", "30d")).logs.at(-1)?.annotations).toMatchObject({ pruned: 1 })
        expect((yield* ledgerRows).map((r) => r.todoId)).toEqual([peterTodoId])
        // Peter's row stayed, so Peter is not notified again.
        yield* send()
        expect(fake.state.notifications.length).toBe(2)
      }))

    it.scoped("prune deletes a dead letter of a deleted todo too, not only rows sent (the state diagram of docs/design.md)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const { run, send } = yield* setup()
        yield* send()
        yield* sql`UPDATE delay_notifications.notifications SET state = 'dead', attempts = 10, dead_since = now() WHERE todo_id = ${ousmaneTodoId}`
        yield* sql`DELETE FROM todos WHERE id = ${ousmaneTodoId}`
        yield* TestClock.adjust("31 days")
        expect((yield* run("prune", "--retention", "30d")).logs.at(-1)?.annotations).toMatchObject({ pruned: 1 })
        expect((yield* ledgerRows).map((r) => r.todoId)).toEqual([peterTodoId])
      }))

    it.scoped("prune refuses, deleting nothing, when the todos table is empty; --force prunes all the same", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const { run, send } = yield* setup()
        yield* send()
        yield* sql`TRUNCATE todos`
        yield* TestClock.adjust("31 days")
        const refused = yield* run("prune", "--retention", "30d")
        expect(refused.code).toBe(ExitCode.Aborted)
        const error = refused.logs.find((l) => l.level === "ERROR")
        expect(error?.message).toBe("Refusing to prune. Aborting...")
        expect(error?.annotations).toMatchObject({ todosTable: "todos" })
        expect(String(error?.annotations.error)).toContain("prune would delete 2 of the 2 rows of sent notifications")
        expect((yield* ledgerRows).length).toBe(2)
        const forced = yield* run("prune", "--retention", "30d", "--force")
        expect(forced.code).toBe(ExitCode.Success)
        expect(forced.logs.at(-1)?.annotations).toMatchObject({ pruned: 2, todosTable: "todos" })
        expect(yield* ledgerRows).toEqual([])
      }))
  })
})

