import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import pg from "pg"
import { startEmbeddedPostgres } from "../../dev/embeddedPostgres.js"
import { createTodosTableSql } from "../../dev/seedTodos.js"
import { serveFakeNotifyLive, servicesEnv, shortSends } from "../support/notify.js"
import { runBuilt, startBuilt } from "../support/process.js"
import { waitUntil } from "../support/TestApp.js"

const query = (url: string, text: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return (await client.query(text)).rows
    } finally {
      await client.end()
    }
  })

describe("PostgreSQL lost mid-run (a server of this test's own, stopped and started again)", () => {
  it.scoped("the run exits 1; the next run completes, and the notify service creates nothing twice", () =>
    Effect.gen(function*() {
      const database = yield* Effect.acquireRelease(
        Effect.promise(() => startEmbeddedPostgres()),
        (db) => Effect.promise(() => db.stop())
      )
      yield* query(database.url, createTodosTableSql)
      yield* query(
        database.url,
        `INSERT INTO todos SELECT gen_random_uuid(), 'x', 'y', '2020-01-01', gen_random_uuid() FROM generate_series(1, 1500)`
      )
      const fake = yield* serveFakeNotifyLive({ latencyMs: 20 })
      const env = { DATABASE_URL: database.url, ...servicesEnv(fake.url), ...shortSends }
      expect((yield* Effect.promise(() => runBuilt(["migrate"], { env }))).code).toBe(0)
      const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "16", "--batch-size", "40", "--lease", "20s"]

      const first = startBuilt(args, { env })
      yield* fake.until((state) => state.notifications.length >= 200)
      yield* Effect.promise(() => database.pause())
      const lost = yield* Effect.promise(() => first.done)
      expect(lost.code).toBe(1)
      expect(lost.stdout).toMatch(/Aborting job/)
      expect(fake.state.notifications.length).toBeLessThan(1500)

      yield* Effect.promise(() => database.resume())
      // The lost run's claims are taken over once their lease has run out.
      yield* waitUntil(
        Effect.map(
          query(database.url, "SELECT coalesce(sum(cardinality(todo_ids)), 0)::int AS n FROM delay_notifications.batches WHERE claim_expires_at > now()"),
          (rows) => rows[0].n === 0
        )
      )
      const second = yield* Effect.promise(() => runBuilt(args, { env }))
      expect(second.code).toBe(0)
      const messages = fake.state.notifications.map((n) => n.message)
      expect(messages.length).toBe(1500)
      expect(new Set(messages).size).toBe(1500)
    }), { timeout: 120_000 })
})
