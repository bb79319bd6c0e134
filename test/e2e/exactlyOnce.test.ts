import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createTodosTable, insertDelayedTodos, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv, shortSends } from "../support/notify.js"
import { allEnded, startBuilt, summaryLine } from "../support/process.js"
import { waitUntil } from "../support/TestApp.js"

const keysSeenTwice = (keys: ReadonlyArray<string | undefined>) => keys.length - new Set(keys).size

describe("exactly once across processes: the built job, PostgreSQL, the fake notify service", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("four processes started at once on 20,000 delayed todos notify each exactly once", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(20_000, 50)
        const fake = yield* serveFakeNotifyLive()
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const runs = Array.from(
          { length: 4 },
          () => startBuilt(["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "32", "--batch-size", "50", "--progress", "5s"], {
            env
          })
        )
        // A few seconds' work: a process still running after two minutes hangs (it says where).
        const results = yield* Effect.promise(() => allEnded(runs, 120_000))
        expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0])
        const messages = fake.state.notifications.map((n) => n.message)
        expect(messages.length).toBe(20_000)
        expect(new Set(messages).size).toBe(20_000)
        // Claims kept the processes apart: the notify service never saw a key twice.
        expect(fake.state.duplicates).toBe(0)
        expect(fake.state.notifyRequests).toBe(20_000)
        // Every process took part of the work.
        const sentBy = results.map((r) => Number(summaryLine(r.stdout)?.sent ?? 0))
        expect(sentBy.reduce((a, b) => a + b, 0)).toBe(20_000)
      }), { timeout: 180_000 })

    it.scoped("a run killed with SIGKILL loses nothing: a later run finishes, repeating at most what was in flight", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        yield* insertDelayedTodos(5_000, 20)
        // Live services: the fake's latency is real time, not the TestClock's.
        const fake = yield* serveFakeNotifyLive({ latencyMs: 2 })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), ...shortSends }
        const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "16", "--batch-size", "40", "--lease", "20s"]

        const killAt = 500 + Math.floor(Math.random() * 3_000)
        const first = startBuilt(args, { env })
        yield* fake.until((state) => state.notifications.length >= killAt)
        first.child.kill("SIGKILL")
        const killed = yield* Effect.promise(() => first.done)
        expect(killed.signal).toBe("SIGKILL")
        const notifiedBeforeKill = fake.state.notifications.length
        expect(notifiedBeforeKill).toBeLessThan(5_000)

        // What the killed run held: claimed, maybe sent, not recorded.
        const [held] = yield* sql<{ n: number }>`
          SELECT coalesce(sum(cardinality(todo_ids)), 0)::int AS n FROM delay_notifications.batches WHERE claimed_by IS NOT NULL`
        expect(held!.n).toBeGreaterThan(0)
        // A later run takes those over only once their lease has expired.
        yield* waitUntil(
          Effect.map(
            sql<{ n: number }>`SELECT coalesce(sum(cardinality(todo_ids)), 0)::int AS n FROM delay_notifications.batches WHERE claim_expires_at > now()`,
            ([row]) => row?.n === 0
          )
        )
        const second = yield* Effect.promise(() => startBuilt(args, { env }).done)
        expect(second.code).toBe(0)

        const messages = fake.state.notifications.map((n) => n.message)
        expect(messages.length).toBe(5_000)
        expect(new Set(messages).size).toBe(5_000)
        const repeated = fake.state.duplicates + keysSeenTwice(fake.state.notifications.map((n) => n.idempotencyKey))
        expect(repeated).toBeLessThanOrEqual(held!.n)
        const [left] = yield* sql<{ n: number }>`
          SELECT ((SELECT count(*) FROM delay_notifications.notifications WHERE state <> 'sent') + (SELECT count(*) FROM delay_notifications.batches))::int AS n`
        expect(left!.n).toBe(0)
      }), { timeout: 180_000 })
  })
})
