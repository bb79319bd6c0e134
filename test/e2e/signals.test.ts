import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createTodosTable, insertDelayedTodos, ledgerRows, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, startBuilt } from "../support/process.js"
import { waitUntil } from "../support/TestApp.js"

describe("SIGTERM mid-run: the built job stops cleanly and a later run finishes", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("exits 143, records what was in flight, leaves the rest pending; the next run completes with no repeat", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(2_000, 20)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 100 })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "16", "--batch-size", "40", "--grace", "10s"]

        const first = startBuilt(args, { env })
        yield* waitUntil(() => fake.state.notifications.length >= 100)
        first.child.kill("SIGTERM")
        const stopped = yield* Effect.promise(() => first.done)
        expect(stopped.code).toBe(143)
        expect(stopped.stdout).toContain("Stopping: claiming no more")

        const rows = yield* ledgerRows
        // Nothing stays claimed, every notification the fake created is recorded as sent, the rest is pending.
        expect(rows.filter((r) => r.claimedBy !== null)).toEqual([])
        expect(rows.filter((r) => r.state === "sent").length).toBe(fake.state.notifications.length)
        expect(rows.filter((r) => r.state === "pending").length).toBe(2_000 - fake.state.notifications.length)
        expect(rows.every((r) => r.state === "sent" || r.attempts === 0)).toBe(true)

        fake.behaviour.latencyMs = 0
        const second = yield* Effect.promise(() => startBuilt(args, { env }).done)
        expect(second.code).toBe(0)
        const messages = fake.state.notifications.map((n) => n.message)
        expect(messages.length).toBe(2_000)
        expect(new Set(messages).size).toBe(2_000)
        expect(fake.state.duplicates).toBe(0)
      }), { timeout: 120_000 })
  })

  it.scoped("schedule: SIGTERM while waiting for the next tick stops the process at once with exit 0", () =>
    Effect.gen(function*() {
      // 1 January at midnight: the process only waits.
      const scheduler = startBuilt(["schedule", "--cron", "0 0 1 1 *"], {
        env: { DATABASE_URL: "postgres://job:pw@127.0.0.1:9/todos", SERVICES_URL: "http://127.0.0.1:9", CLIENT_ID: "x", CLIENT_SECRET: "y" }
      })
      let output = ""
      scheduler.child.stdout!.on("data", (chunk) => (output += chunk))
      yield* waitUntil(() => output.includes("Next run scheduled."))
      scheduler.child.kill("SIGTERM")
      const stopped = yield* Effect.promise(() => scheduler.done)
      expect(stopped.code).toBe(0)
      expect(logLines(stopped.stdout).map((line) => line.message)).toEqual([
        "Scheduler started.",
        "Next run scheduled.",
        "Scheduler stopped."
      ])
    }))
})
