import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ousmaneTodoId, peterTodoId, seedTodos, workspace1, workspace2 } from "../../dev/seedTodos.js"
import { seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { clientSecret, serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { runBuilt } from "../support/process.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

/** The built CLI as its own process against this file's database and an in-process fake. */
const runJob = (databaseUrl: string, serviceUrl: string) =>
  Effect.promise(() =>
    runBuilt(["send-delay-notifications", "--at", "2022-06-03"], {
      env: { DATABASE_URL: databaseUrl, ...servicesEnv(serviceUrl), LOG_LEVEL: "debug" }
    })
  )

describe("the built job end to end: PostgreSQL, the fake notify service, a real process", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("exits 0 after the seed's two notifications", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id) })
        const result = yield* runJob(yield* TestDatabaseUrl, fake.url)
        expect(result.code).toBe(0)
        expect(fake.state.notifications.map((n) => [n.workspaceId, n.message]).sort()).toEqual([
          [workspace1, `Todo ${peterTodoId} is delayed`],
          [workspace2, `Todo ${ousmaneTodoId} is delayed`]
        ].sort())
        expect(result.stdout).toContain("Finished to send delay notifications.")
        // Debug logging is on, and still no token or secret reaches the output.
        expect(result.stdout).toContain("/notify/notifications")
        expect(result.stdout + result.stderr).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
        expect(result.stdout + result.stderr).not.toContain(clientSecret)
      }))

    it.scoped("exits 3 when the notify service fails one, having sent the other", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ failTodos: [peterTodoId], failStatus: 500 })
        const result = yield* runJob(yield* TestDatabaseUrl, fake.url)
        expect(result.code).toBe(3)
        expect(fake.state.notifications.map((n) => n.message)).toEqual([`Todo ${ousmaneTodoId} is delayed`])
        expect(result.stdout).toContain("Could not send delayed todo. Skipping it...")
        expect(result.stdout).toContain(peterTodoId)
      }))
  })

  it.scoped("exits 1 when the database is down, and sends nothing", () =>
    Effect.gen(function*() {
      const fake = yield* serveFakeNotifyLive()
      const result = yield* runJob("postgres://job:pw@127.0.0.1:9/todos", fake.url)
      expect(result.code).toBe(1)
      expect(result.stdout).toContain("Could not connect to the database. Aborting job...")
      expect(fake.state.notifyRequests).toBe(0)
    }))
})
