import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { type AddressInfo, createServer } from "node:net"
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
        yield* fake.until((state) => state.notifications.length >= 100)
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

  it.scoped("SIGTERM while connecting to a database that does not answer: exit 143 (once the connect timeout ends), not a connection error", () =>
    Effect.gen(function*() {
      let connected = false
      // Accepts and never answers (reading, so that it sees the job's side close).
      const silent = createServer((socket) => {
        connected = true
        socket.resume()
      })
      const port = yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<number>((resolve) => silent.listen(0, "127.0.0.1", () => resolve((silent.address() as AddressInfo).port)))),
        () => Effect.promise(() => new Promise((resolve) => silent.close(resolve)))
      )
      const env = { DATABASE_URL: `postgres://job:pw@127.0.0.1:${port}/todos`, ...servicesEnv("http://127.0.0.1:9") }
      const run = startBuilt(["send-delay-notifications", "--at", "2022-06-03", "--grace", "1s"], { env })
      yield* waitUntil(() => connected)
      run.child.kill("SIGTERM")
      const stopped = yield* Effect.promise(() => run.done)
      expect(stopped.code).toBe(143)
      expect(logLines(stopped.stdout).map((line) => line.message)).toContain("Stopping: the run had not begun; nothing was claimed.")
    }))

  it.layer(TestDatabaseLive)((it) => {
    it.scoped("SIGTERM during a slow enqueue: it is cut off after the grace period, exit 143, nothing claimed or sent", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        yield* insertDelayedTodos(10, 1)
        yield* sql`ALTER TABLE todos RENAME TO todos_stored`
        // Reading the todos takes a minute.
        yield* sql`CREATE VIEW todos AS SELECT t.* FROM todos_stored t, LATERAL (SELECT pg_sleep(60)) s`
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const run = startBuilt(["send-delay-notifications", "--at", "2022-06-03", "--grace", "1s"], { env })
        let output = ""
        run.child.stdout!.on("data", (chunk) => (output += chunk))
        yield* waitUntil(() => output.includes("Starting to send delay notifications."))
        // The enqueue is under way (it starts after a first look at the table): its statement runs.
        yield* waitUntil(Effect.map(
          sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%INSERT INTO "delay_notifications"."notifications"%'`,
          (rows) => rows[0]!.n > 0
        ))
        run.child.kill("SIGTERM")
        const stopped = yield* Effect.promise(() => run.done)
        yield* sql`DROP VIEW todos`
        yield* sql`ALTER TABLE todos_stored RENAME TO todos`
        expect(stopped.code).toBe(143)
        const messages = logLines(stopped.stdout).map((line) => line.message)
        expect(messages).toContain("The grace period ended: in-flight notifications were cut off.")
        expect(fake.state.notifyRequests).toBe(0)
        expect((yield* ledgerRows).filter((r) => r.claimedBy !== null)).toEqual([])
      }))
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
