import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import pg from "pg"
import { createTodosTableSql, seedTodos } from "../../dev/seedTodos.js"
import { latestMigrationId } from "../../src/migrations/index.js"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, runBuilt } from "../support/process.js"

describe("migrate from several pods at once", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("four migrate processes started together on a fresh database all succeed, and each migration is applied once", () =>
      Effect.gen(function*() {
        const env = { DATABASE_URL: yield* TestDatabaseUrl }
        const results = yield* Effect.promise(() => Promise.all(Array.from({ length: 4 }, () => runBuilt(["migrate"], { env }))))
        expect(results.map((r) => r.stdout + r.stderr).filter((output) => output.includes("ERROR"))).toEqual([])
        expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0])
        // One of them applied the migrations; the others found the schema current.
        const applied = results.map((r) => logLines(r.stdout).find((line) => line.applied !== undefined)?.applied)
        expect(applied.filter((a) => a !== "none")).toHaveLength(1)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ readonly id: number }>`SELECT migration_id AS id FROM delay_notifications.migrations ORDER BY 1`
        expect(rows.map((row) => row.id)).toEqual(Array.from({ length: latestMigrationId }, (_, i) => i + 1))
      }))

    it.scoped("a migrate that cannot get the lock in MIGRATE_LOCK_TIMEOUT exits 1 with one line naming who holds it", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabaseUrl
        const holder = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: url, application_name: "stuck-migrate" })
            await client.connect()
            await client.query("SELECT pg_advisory_lock(hashtext('delay_notifications.migrate'))")
            const [row] = (await client.query("SELECT pg_backend_pid() AS pid")).rows
            return { client, pid: row.pid as number }
          }),
          ({ client }) => Effect.promise(() => client.end())
        )
        const run = yield* Effect.promise(() => runBuilt(["migrate"], { env: { DATABASE_URL: url, MIGRATE_LOCK_TIMEOUT: "2s" } }))
        expect(run.code).toBe(1)
        const lines = logLines(run.stdout)
        expect(lines.filter((line) => line.message === "Waiting for another migrate to finish.").length).toBeGreaterThan(0)
        const errors = lines.filter((line) => line.level === "ERROR")
        expect(errors).toHaveLength(1)
        expect(String(errors[0]!.error)).toContain(
          `another migrate has held the migration lock for over 2s (held by pid ${holder.pid}, application stuck-migrate`
        )
      }))

    it.scoped("a binary one migration behind the schema (a rollback of the binary, not of the schema) runs, and sends", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabaseUrl
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(createTodosTableSql)
        yield* sql`INSERT INTO todos ${sql.insert(seedTodos.map((todo) => ({ ...todo })))}`
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => seedTodos.find((todo) => todo.id === id)?.workspaceId })
        const env = { DATABASE_URL: url, ...servicesEnv(fake.url) }
        expect((yield* Effect.promise(() => runBuilt(["migrate"], { env }))).code).toBe(0)
        // A migration of a newer version than this binary, applied.
        yield* sql`INSERT INTO delay_notifications.migrations (migration_id, name) VALUES (${latestMigrationId + 1}, 'of_a_newer_version')`
        const run = yield* Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03"], { env }))
        expect(run.code).toBe(0)
        expect(fake.state.notifications).toHaveLength(2)
      }))
  })
})
