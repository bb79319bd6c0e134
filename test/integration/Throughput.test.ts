import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { serveFakeNotify } from "../../dev/fakeNotify/FakeNotify.js"
import { ExitCode } from "../../src/Cli.js"
import { createTodosTable, insertDelayedTodos, layersOnDatabase, TestDatabaseLive } from "../support/database.js"
import { clientId, clientSecret, liveClientLayer } from "../support/notify.js"
import { cli } from "../support/TestApp.js"
import { SqlClient } from "@effect/sql"

describe("pacing: connections, and per-workspace fairness", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("opens at most --concurrency connections to the notify service, its token requests included", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(400, 40)
        const fake = yield* serveFakeNotify({ clientId, clientSecret })
        const layers = yield* layersOnDatabase(liveClientLayer(fake.url))
        const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "4"]
        expect(yield* cli(args, layers)).toBe(ExitCode.Success)
        expect(fake.state.notifications.length).toBe(400)
        expect(fake.state.tokenRequests.length).toBe(40)
        expect(fake.state.connections).toBeLessThanOrEqual(4)
      }))

    it.scoped("--fair takes one todo of every workspace before a second of any", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        // One huge workspace with old todos, three small ones with newer todos.
        yield* insertDelayedTodos(500, 1, "2019-01-01")
        yield* insertDelayedTodos(6, 3, "2021-01-01")
        const [huge] = yield* sql<{ id: string }>`SELECT "workspaceId"::text AS id FROM todos WHERE "dueDate" = '2019-01-01' LIMIT 1`
        const fake = yield* serveFakeNotify({ clientId, clientSecret })
        const layers = yield* layersOnDatabase(liveClientLayer(fake.url))
        const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "1", "--batch-size", "4"]
        expect(yield* cli([...args, "--fair"], layers)).toBe(ExitCode.Success)
        const firstEight = fake.state.notifications.slice(0, 8).map((n) => n.workspaceId)
        // Ranks 1 and 2 of the four workspaces come first: the small ones are not behind 500 old todos.
        expect(firstEight.filter((w) => w !== huge!.id).length).toBe(6)
        expect(fake.state.notifications.length).toBe(506)
      }))
  })
})
