/**
 * Exactly once when the services misbehave in ordinary ways: the built job against a
 * real PostgreSQL and the fake notify service over real sockets.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { CalendarDate } from "../../src/domain/Todo.js"
import { TodoRepository } from "../../src/services/TodoRepository.js"
import { TodoRepositoryLive } from "../../src/services/TodoRepository/Live.js"
import { createTodosTable, insertDelayedTodos, ledgerRows, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { clientSecret, serveFakeNotifyLive, servicesEnv, shortSends } from "../support/notify.js"
import { logLines, runBuilt, startBuilt, summaryLine } from "../support/process.js"

const at = ["--at", "2022-06-03"]

/**
 * Bytes no text column takes as they are: terminal escapes, NUL, invalid UTF-8, a lone surrogate
 * (CESU-8), controls, then emoji well past the 200 characters kept, so the cut falls among them.
 */
const hostileBody = Buffer.concat([
  Buffer.from("Ab \u001b[31mred\u001b[0m \u001b]0;title\u0007 \u009b2J \u202eevil "),
  Buffer.from([0x00, 0xff, 0xfe, 0xed, 0xa0, 0x80, 0x07, 0x08]),
  Buffer.from("😀".repeat(240))
])

/** Control characters, escapes and what PostgreSQL refuses, none of which may reach a stored or printed text. */
const unsafe = /[\u0000-\u001f\u007f-\u009f\u202e]|[\ud800-\udbff](?![\udc00-\udfff])/

describe("exactly once under faults", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("an error text PostgreSQL would refuse is stored safely: every outcome recorded, exit 3, nothing sent twice", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(100, 10)
        const fake = yield* serveFakeNotifyLive({ failEvery: 10, failStatus: 422, failBody: hostileBody })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRIES: "0" }
        const report = path.join(mkdtempSync(path.join(tmpdir(), "report-")), "run.json")
        const first = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at, "--report", report], { env }))
        expect(first.code).toBe(3)
        expect(fake.state.notifications.length).toBe(90)
        const rows = yield* ledgerRows
        expect(rows.filter((r) => r.state === "sent").length).toBe(90)
        const failed = rows.filter((r) => r.state === "pending")
        expect(failed.length).toBe(10)
        for (const row of failed) {
          expect(row.attempts).toBe(1)
          expect(row.claimedBy).toBeNull()
          // Escapes gone, their text kept; cut on a character boundary (a whole emoji before the …).
          expect(row.lastError).toMatch(/^HTTP 422: Ab red 2J evil .*😀…$/)
          expect(row.lastError).not.toMatch(unsafe)
        }
        // Printed texts are as safe: log lines, the report, status.
        const errors = logLines(first.stdout).filter((line) => line.level === "ERROR").map((line) => String(line.error))
        expect(errors.length).toBe(10)
        for (const error of errors) expect(error).not.toMatch(unsafe)
        expect(readFileSync(report, "utf8").replace(/\n/g, " ")).not.toMatch(unsafe)
        expect(JSON.parse(readFileSync(report, "utf8"))).toMatchObject({ outcome: "some-failed", sent: 90, failed: 10 })
        const status = yield* Effect.promise(() => runBuilt(["status"], { env }))
        expect(status.code).toBe(0)
        expect(status.stdout).toContain("retrying 10")
        expect(status.stdout.replace(/\n/g, " ")).not.toMatch(unsafe)

        // The next run sends nothing again: the failures wait for their next try.
        const second = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at], { env }))
        expect(second.code).toBe(0)
        expect(fake.state.notifyRequests).toBe(100)
        expect(fake.state.duplicates).toBe(0)
      }), { timeout: 60_000 })

    it.scoped("a token endpoint that answers hostile bytes: the failures recorded safely, a few token requests per workspace", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(300, 3)
        const fake = yield* serveFakeNotifyLive({ tokenFailStatus: 500, failBody: hostileBody })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRIES: "0" }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at, "--outage-after", "1000"], { env }))
        expect(run.code).toBe(3)
        expect(fake.state.notifyRequests).toBe(0)
        // At most three token requests per workspace, whatever the backlog.
        expect(fake.state.tokenRequests.length).toBeLessThanOrEqual(9)
        const rows = yield* ledgerRows
        expect(rows.length).toBe(300)
        for (const row of rows) {
          expect(row.state).toBe("pending")
          expect(row.lastError).toMatch(/^HTTP 500: Could not get a service token: Ab red 2J evil .*😀…$/)
          expect(row.lastError).not.toMatch(unsafe)
        }
      }), { timeout: 60_000 })

    it.scoped("a token endpoint that is down trips the outage breaker like the notify service (exit 4)", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(990, 10)
        const fake = yield* serveFakeNotifyLive({ tokenFailStatus: 503 })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRIES: "0" }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at, "--outage-after", "20"], { env }))
        expect(run.code).toBe(4)
        expect(fake.state.tokenRequests.length).toBeLessThanOrEqual(30)
        const rows = yield* ledgerRows
        // Only what was in flight when the breaker tripped counted an attempt.
        expect(rows.filter((r) => r.attempts > 0).length).toBeLessThanOrEqual(20 + 64)
        expect(rows.every((r) => r.claimedBy === null)).toBe(true)
      }), { timeout: 60_000 })

    it.scoped("claims held behind a slow rate limit outlive no lease: nothing sent twice (renewed leases)", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(120, 5)
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), ...shortSends }
        // Claims wait up to 30 s behind the rate limit, past their 20 s lease.
        const args = ["send-delay-notifications", ...at, "--rate", "4", "--lease", "20s", "--batch-size", "60", "--concurrency", "4"]
        const run = yield* Effect.promise(() => runBuilt(args, { env }))
        expect(run.code).toBe(0)
        expect(fake.state.notifications.length).toBe(120)
        expect(fake.state.duplicates).toBe(0)
        expect(summaryLine(run.stdout)).toMatchObject({ sent: 120, claimsLost: 0 })
        expect((yield* ledgerRows).every((r) => r.state === "sent")).toBe(true)
      }), { timeout: 120_000 })

    it.scoped("a lease shorter than one send with its retries is refused at start with one line (exit 2)", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(5, 1)
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at, "--lease", "4s"], { env }))
        expect(run.code).toBe(2)
        const errors = logLines(run.stdout).filter((line) => line.level === "ERROR")
        expect(errors.length).toBe(1)
        expect(String(errors[0]!.error)).toMatch(/^--lease 4s is shorter than one notification can take with its retries: give at least \d/)
        expect(fake.state.notifyRequests).toBe(0)
        expect(yield* ledgerRows).toEqual([])
      }))

    it.scoped("a claim whose rows had all vanished does not end the run: every live delayed todo is sent", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        yield* insertDelayedTodos(450, 10, "2020-01-01")
        yield* insertDelayedTodos(150, 10, "2021-01-01")
        // 600 pending in the ledger, then the 450 oldest deleted from todos.
        yield* Effect.flatMap(TodoRepository, (repository) => Stream.runDrain(repository.enqueueDelayed(CalendarDate.make("2022-06-03"))))
          .pipe(Effect.provide(TodoRepositoryLive))
        yield* sql`DELETE FROM todos WHERE "dueDate" = '2020-01-01'`
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at, "--batch-size", "200"], { env }))
        expect(run.code).toBe(0)
        expect(fake.state.notifications.length).toBe(150)
        expect(summaryLine(run.stdout)).toMatchObject({ sent: 150 })
        const rows = yield* ledgerRows
        expect(rows.length).toBe(150)
        expect(rows.every((r) => r.state === "sent")).toBe(true)
      }), { timeout: 60_000 })

    it.scoped("SIGTERM with requests that never answer: every finished send is recorded; only the unanswered stay claimed", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(3_000, 10)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 5, hangEvery: 400 })
        const env = {
          DATABASE_URL: yield* TestDatabaseUrl,
          ...servicesEnv(fake.url),
          NOTIFY_TIMEOUT: "60 seconds",
          NOTIFY_RETRIES: "0"
        }
        const args = ["send-delay-notifications", ...at, "--concurrency", "32", "--batch-size", "100", "--grace", "2s", "--lease", "10m"]
        const first = startBuilt(args, { env })
        yield* fake.until((state) => state.notifications.length >= 1_200)
        first.child.kill("SIGTERM")
        const stopped = yield* Effect.promise(() => first.done)
        expect(stopped.code).toBe(143)
        expect(stopped.stdout).toContain("The grace period ended")
        const rows = yield* ledgerRows
        // Every notification the service created is recorded as sent; what is still claimed is what never answered.
        expect(rows.filter((r) => r.state === "sent").length).toBe(fake.state.notifications.length)
        const claimed = rows.filter((r) => r.claimedBy !== null)
        expect(claimed.length).toBeGreaterThan(0)
        expect(claimed.length).toBeLessThanOrEqual(Math.ceil(3_000 / 400))
        expect(claimed.every((r) => r.state === "pending" && r.attempts === 0)).toBe(true)
      }), { timeout: 120_000 })

    it.scoped("SIGTERM while workers wait for the rate limit: they stop waiting at once (no grace period needed)", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(500, 10)
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const args = ["send-delay-notifications", ...at, "--rate", "1", "--concurrency", "64", "--grace", "60s"]
        const first = startBuilt(args, { env })
        yield* fake.until((state) => state.notifications.length >= 2)
        first.child.kill("SIGTERM")
        const stopped = yield* Effect.promise(() => first.done)
        expect(stopped.code).toBe(143)
        expect(stopped.stdout).not.toContain("The grace period ended")
        const rows = yield* ledgerRows
        expect(rows.filter((r) => r.state === "sent").length).toBe(fake.state.notifications.length)
        expect(rows.filter((r) => r.claimedBy !== null)).toEqual([])
      }), { timeout: 120_000 })

    it.scoped("a rotated client secret stops the run at once: exit 5, one line naming CLIENT_ID, no attempt counted", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(990, 10)
        const fake = yield* serveFakeNotifyLive({ clientSecret: "the-rotated-secret" })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const report = path.join(mkdtempSync(path.join(tmpdir(), "report-")), "run.json")
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", ...at, "--report", report], { env }))
        expect(run.code).toBe(5)
        expect(fake.state.notifyRequests).toBe(0)
        // At most one token request per workspace: the first refusal stops the run.
        expect(fake.state.tokenRequests.length).toBeLessThanOrEqual(10)
        const errors = logLines(run.stdout).filter((line) => line.level === "ERROR")
        expect(errors.map((line) => line.message)).toEqual([
          "The auth service refused the job's client credentials: stopped sending. Aborting job..."
        ])
        expect(String(errors[0]!.error)).toContain("CLIENT_ID=todos")
        expect(run.stdout + run.stderr).not.toContain(clientSecret)
        expect(JSON.parse(readFileSync(report, "utf8"))).toMatchObject({ outcome: "credentials-rejected", exitCode: 5, sent: 0 })
        const rows = yield* ledgerRows
        expect(rows.length).toBe(990)
        expect(rows.every((r) => r.state === "pending" && r.attempts === 0 && r.claimedBy === null)).toBe(true)
      }), { timeout: 60_000 })
  })
})


