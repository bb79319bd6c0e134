import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createTodosTable, insertDelayedTodos, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { startBuilt } from "../support/process.js"

describe("at scale: the built job in a small heap", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("notifies 100,000 delayed todos exactly once at concurrency 64 in a 48 MB heap, reusing connections and tokens", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(100_000, 200)
        const fake = yield* serveFakeNotifyLive()
        const run = startBuilt(["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "64"], {
          // The backlog's todos alone would not fit in this heap: memory must stay flat.
          env: { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NODE_OPTIONS: "--max-old-space-size=48" }
        })
        const result = yield* Effect.promise(() => run.done)
        expect(result.stderr).not.toContain("heap out of memory")
        expect(result.code).toBe(0)
        const messages = fake.state.notifications.map((n) => n.message)
        expect(messages.length).toBe(100_000)
        expect(new Set(messages).size).toBe(100_000)
        // One token per workspace, and keep-alive connections: hundreds of notifications per connection.
        expect(fake.state.tokenRequests.length).toBe(200)
        expect(fake.state.connections).toBeLessThan(1_000)
      }), { timeout: 300_000 })
  })
})
