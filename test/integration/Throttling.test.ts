import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Fiber, TestServices } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import type { FakeNotify, JournalEntry } from "../../dev/fakeNotify/FakeNotify.js"
import { ExitCode } from "../../src/Cli.js"
import { createTodosTable, insertDelayedTodos, layersOnDatabase, ledgerRows, TestDatabaseLive } from "../support/database.js"
import { liveClientLayer, serveFakeNotifyLive } from "../support/notify.js"
import { cli } from "../support/TestApp.js"

/** The job at its defaults against `fake`, with a report; its exit code and the report. */
const runJob = (fake: FakeNotify, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const layers = yield* layersOnDatabase(liveClientLayer(fake.url))
    const report = path.join(yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "report-"))), "run.json")
    const code = yield* TestServices.provideLive(cli(["send-delay-notifications", "--at", "2022-06-03", "--report", report, ...extra], layers))
    return { code, report: JSON.parse(yield* Effect.promise(() => fs.readFile(report, "utf8"))) }
  })

/** Every todo created once, in the first run, and recorded sent with one attempt: none was charged a throttled try. */
const everyTodoSentOnce = (fake: FakeNotify, todos: number) =>
  Effect.gen(function*() {
    expect(fake.state.notifications.length).toBe(todos)
    expect(new Set(fake.state.notifications.map((n) => n.message)).size).toBe(todos)
    const rows = yield* ledgerRows
    expect(rows.filter((row) => row.state !== "sent" || row.attempts !== 1)).toEqual([])
  })

/**
 * The run followed a limit of `level` in flight: the limit it ended at is the service's, a try one
 * above it, or one more once that try held (ConcurrencyLimit: a try is held when no request is
 * turned away for a while, and a job's answers still on their way to it count as in flight to the
 * job, not to the service, so on a busy machine a try can hold); and finding it cost few requests
 * turned away (a try costs one).
 */
const followed = (fake: FakeNotify, report: { readonly concurrency: number }, level: number) => {
  expect(report.concurrency).toBeLessThanOrEqual(level + 2)
  expect(fake.state.answers[429] ?? 0).toBeLessThanOrEqual(0.05 * fake.state.notifyRequests)
}

/** The most requests of the journal in flight at once among those `which` picks. */
const mostInFlight = (journal: ReadonlyArray<JournalEntry>, which: (entry: JournalEntry) => boolean) => {
  const edges = journal.filter(which).flatMap((e) => [[e.at, 1], [e.endedAt ?? Infinity, -1]] as const)
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let most = 0
  for (const [, step] of edges) most = Math.max(most, (now += step))
  return most
}

describe("a notify service that throttles: back-pressure, not failure", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a limit of 16 in flight: every todo sent in the first run, exit 0, the throttled ones not charged, the limit found", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(2000, 20)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 20, limitInFlight: 16 })
        const { code, report } = yield* runJob(fake)
        expect(code).toBe(ExitCode.Success)
        yield* everyTodoSentOnce(fake, 2000)
        expect(report).toMatchObject({ outcome: "completed", sent: 2000, failed: 0, throttled: fake.state.answers[429] ?? 0 })
        followed(fake, report, 16)
      }))

    it.scoped("a limit of 500 a second: every todo sent in the first run, exit 0, none charged", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(2000, 20)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 20, limitPerSecond: 500 })
        const { code, report } = yield* runJob(fake)
        expect(code).toBe(ExitCode.Success)
        yield* everyTodoSentOnce(fake, 2000)
        expect(report).toMatchObject({ sent: 2000, failed: 0, throttled: fake.state.answers[429] ?? 0 })
      }))

    it.scoped("a rate under what one request in flight makes (200 a second, 1 ms answers): the client is paced, and its limit does not climb on sends waiting for their turn", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(1000, 10)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 1, limitPerSecond: 200 })
        const { code, report } = yield* runJob(fake)
        expect(code).toBe(ExitCode.Success)
        yield* everyTodoSentOnce(fake, 1000)
        // 200 a second of 1 ms answers keep 0.2 in flight (Little's law), and the limit grows only
        // while half of it is in use: it ends no higher than the 4 it started at, whatever number of
        // sends wait for the client's turn (those are not in flight at the service).
        expect(report.concurrency).toBeLessThanOrEqual(4)
      }))

    it.scoped("a limit that drops from 32 to 8 in flight mid-run is followed: exit 0, none charged, the run ends at it", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(3000, 20)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 20, limitInFlight: 32 })
        const running = yield* Effect.fork(runJob(fake))
        yield* fake.until((state) => state.notifications.length >= 1000)
        fake.behaviour.limitInFlight = 8
        const { code, report } = yield* Fiber.join(running)
        expect(code).toBe(ExitCode.Success)
        expect(fake.state.answers[429]).toBeGreaterThan(0)
        yield* everyTodoSentOnce(fake, 3000)
        followed(fake, report, 8)
      }))

    it.scoped("throttling of one workspace slows that workspace alone: the others keep their concurrency, none charged", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(1500, 10)
        const fake = yield* serveFakeNotifyLive({ latencyMs: 20, journal: true })
        const sql = yield* SqlClient.SqlClient
        const [{ limited }] = yield* sql<{ limited: string }>`SELECT min("workspaceId"::text) AS limited FROM todos`
        Object.assign(fake.behaviour, { limitedWorkspace: limited!, workspaceLimitPerSecond: 50 })
        const { code, report } = yield* runJob(fake)
        expect(code).toBe(ExitCode.Success)
        yield* everyTodoSentOnce(fake, 1500)
        // Only the limited workspace was turned away, and it was slowed down (held for Retry-After).
        expect(Object.keys(fake.state.throttledBy)).toEqual([limited])
        expect(report.throttled).toBe(fake.state.throttledBy[limited])
        // After its first 429, the other workspaces' requests still went many at once: a client
        // slowed as a whole by each of the limited workspace's 429s would be down to one or two.
        const firstThrottled = fake.state.journal.find((e) => e.status === 429)!.at
        expect(mostInFlight(fake.state.journal, (e) => e.workspaceId !== limited && e.at > firstThrottled)).toBeGreaterThanOrEqual(10)
      }))
  })
})
