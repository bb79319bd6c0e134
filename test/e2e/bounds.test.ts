/**
 * Every wait bounded, whatever the database's settings: the built job against a real
 * PostgreSQL and the fake notify service.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createTodosTable, insertDelayedTodos, ledgerRows, seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, runBuilt, runBuiltMeasured } from "../support/process.js"

describe("the services' answers: every buffer and every wait bounded", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("20 MB error bodies to one request in three, 64 at a time: the job reads a small prefix, peak RSS stays small", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(600, 10)
        const huge = Buffer.alloc(20 * 1024 * 1024, "x")
        const fake = yield* serveFakeNotifyLive({ failEvery: 3, failStatus: 500, failBody: huge })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRIES: "0" }
        const run = yield* Effect.promise(() =>
          runBuiltMeasured(["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "64", "--outage-after", "10000"], { env })
        )
        expect(run.code).toBe(3)
        expect(fake.state.answers[500]).toBe(200)
        const failed = (yield* ledgerRows).filter((r) => r.state === "pending")
        expect(failed.length).toBe(200)
        expect(failed.every((r) => /^HTTP 500: x{200}…$/.test(r.lastError ?? ""))).toBe(true)
        // 200 × 20 MB was read whole before (4.7 GB at its peak); the CronJob's limit is 256 MiB.
        expect(run.peakRssMiB).toBeLessThan(256)
      }), { timeout: 120_000 })

    it.scoped("an answer that trickles a byte every 2 s ends at NOTIFY_TIMEOUT, counted as transient by the breaker", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(5, 1)
        const fake = yield* serveFakeNotifyLive({ trickle: "notify", trickleMs: 2000 })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_TIMEOUT: "3s", NOTIFY_RETRIES: "0" }
        const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "1", "--outage-after", "2"]
        const run = yield* Effect.promise(() => runBuilt(args, { env }))
        expect(run.code).toBe(4)
        // The ledger's record: two tries failed (the breaker's two), the rest handed back untried.
        const errors = (yield* ledgerRows).flatMap((row) => (row.lastError === null ? [] : [row.lastError]))
        expect(errors).toEqual([
          "No answer from the notify service within 3s",
          "No answer from the notify service within 3s"
        ])
      }), { timeout: 60_000 })

    it.scoped("a token answer that trickles ends at NOTIFY_TIMEOUT too", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(1, 1)
        const fake = yield* serveFakeNotifyLive({ trickle: "token", trickleMs: 2000 })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_TIMEOUT: "3s", NOTIFY_RETRIES: "0" }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03"], { env }))
        expect(run.code).toBe(3)
        const [row] = yield* ledgerRows
        expect(row?.lastError).toBe("Could not get a service token: No answer from the auth service within 3s")
      }), { timeout: 60_000 })

    it.scoped("--rate limits requests, retries included: the notify service never sees more than N in a second", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(30, 3)
        // Every message fails once (500) and is retried at once: 60 requests for 30 todos.
        const fake = yield* serveFakeNotifyLive({ failFirst: 1, failStatus: 500 })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRY_BASE: "1ms" }
        const run = yield* Effect.promise(() =>
          runBuilt(["send-delay-notifications", "--at", "2022-06-03", "--rate", "10", "--concurrency", "16"], { env })
        )
        expect(run.code).toBe(0)
        expect(fake.state.notifications.length).toBe(30)
        const times = fake.state.requestTimes
        expect(times.length).toBe(60)
        // Any 11 requests in a row span a second or more (less a little for the network).
        const windows = times.slice(10).map((time, i) => time - times[i]!)
        expect(Math.min(...windows)).toBeGreaterThanOrEqual(950)
      }), { timeout: 60_000 })

    it.scoped("a token answer larger than 64 KiB is an error, not read whole", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(1, 1)
        const fake = yield* serveFakeNotifyLive()
        // A token service that answers 200 with a megabyte.
        fake.behaviour.tokenFailStatus = 200
        fake.behaviour.failBody = Buffer.alloc(1024 * 1024, " ")
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRIES: "0" }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03"], { env }))
        expect(run.code).toBe(3)
        const [row] = yield* ledgerRows
        expect(row?.lastError).toBe("HTTP 200: Could not get a service token: the auth service's answer is larger than 64 KiB")
      }), { timeout: 60_000 })
  })
})

describe("the database's settings and speed", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a database whose DateStyle is not ISO ('SQL, DMY') changes nothing: the seed's two todos are notified", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        const url = yield* TestDatabaseUrl
        const database = new URL(url).pathname.slice(1)
        yield* sql.unsafe(`ALTER DATABASE ${database} SET DateStyle = 'SQL, DMY'`)
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: url, ...servicesEnv(fake.url) }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03"], { env }))
        yield* sql.unsafe(`ALTER DATABASE ${database} RESET DateStyle`)
        expect(run.stdout + run.stderr).not.toContain("Skipping it")
        expect(run.code).toBe(0)
        expect(fake.state.notifications).toHaveLength(2)
        const status = yield* Effect.promise(() => runBuilt(["status"], { env }))
        expect(status.stdout).toContain("sent 2")
      }))

    it.scoped("no statement runs past DATABASE_STATEMENT_TIMEOUT: a todos table that hangs aborts the run (exit 1)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* seedDatabase
        yield* sql`ALTER TABLE todos RENAME TO todos_stored`
        // Reading it takes a minute.
        yield* sql`CREATE VIEW todos AS SELECT t.* FROM todos_stored t, LATERAL (SELECT pg_sleep(60)) s`
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), DATABASE_STATEMENT_TIMEOUT: "1s" }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03"], { env }))
        yield* sql`DROP VIEW todos`
        yield* sql`ALTER TABLE todos_stored RENAME TO todos`
        expect(run.code).toBe(1)
        const errors = logLines(run.stdout).filter((line) => line.level === "ERROR")
        expect(errors.map((line) => line.message)).toEqual(["Could not retrieve delayed todos from the database. Aborting job..."])
        expect(String(errors[0]!.error)).toContain("canceling statement due to statement timeout")
        expect(fake.state.notifyRequests).toBe(0)
      }), { timeout: 30_000 })
  })
})
