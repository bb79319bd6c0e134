import { Reactivity } from "@effect/experimental"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { type ConfigError, Context, Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import { createTodosTableSql, seedTodos } from "../../dev/seedTodos.js"
import type { AppLayers } from "../../src/layers/AppLayers.js"
import { LedgerAdmin } from "../../src/services/LedgerAdmin.js"
import { LedgerAdminLive } from "../../src/services/LedgerAdmin/Live.js"
import type { NotificationClient } from "../../src/services/NotificationClient.js"
import { TodoRepositoryOnClockLive } from "../../src/services/TodoRepository/Live.js"

/** The URL of this test file's own database. */
export class TestDatabaseUrl extends Context.Tag("test/TestDatabaseUrl")<TestDatabaseUrl, string>() {}

const withDatabase = (serverUrl: string, database: string) => {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

const adminClient = (serverUrl: string) => PgClient.make({ url: Redacted.make(serverUrl) })

/**
 * A fresh database on the run's PostgreSQL server (embedded, or TEST_DATABASE_URL), dropped when
 * the layer is released, with a SqlClient on it.
 */
export const TestDatabaseLive = Layer.scopedContext(Effect.gen(function*() {
  const serverUrl = inject("databaseUrl")
  const name = `test_${Math.random().toString(36).slice(2, 10)}`
  yield* Effect.acquireRelease(
    Effect.scoped(Effect.flatMap(adminClient(serverUrl), (sql) => sql.unsafe(`CREATE DATABASE ${name}`))),
    () =>
      Effect.scoped(Effect.flatMap(adminClient(serverUrl), (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
        .pipe(Effect.orDie)
  )
  const url = withDatabase(serverUrl, name)
  const sql = yield* PgClient.make({ url: Redacted.make(url) })
  return Context.make(TestDatabaseUrl, url).pipe(Context.add(SqlClient.SqlClient, sql))
}).pipe(Effect.orDie, Effect.provide(Reactivity.layer)))

/** The job's own schema, migrated; its ledger and its record of reads emptied (each test starts with nothing notified, nothing read). */
export const migrateLedger = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Effect.flatMap(LedgerAdmin, (admin) => admin.migrate).pipe(Effect.provide(LedgerAdminLive))
  yield* sql`TRUNCATE delay_notifications.notifications, delay_notifications.batches, delay_notifications.passes`
})

/** The ledger's rows, for assertions. */
export const ledgerRows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{
    todoId: string
    workspaceId: string
    dueDate: string
    state: string
    attempts: number
    claimedBy: string | null
    lastError: string | null
    nextAttemptAt: string
  }>`SELECT todo_id::text AS "todoId", workspace_id::text AS "workspaceId", due_date::text AS "dueDate", state,
            attempts, last_error AS "lastError",
            to_char(next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "nextAttemptAt",
            -- A pending todo's claim is its batch's (migration 7).
            (SELECT b.claimed_by::text FROM delay_notifications.batches b
             WHERE n.state = 'pending' AND b.claimed_by IS NOT NULL AND n.todo_id = ANY(b.todo_ids)
               AND (n.workspace_id, n.todo_id, n.due_date) IN (SELECT * FROM unnest(b.workspace_ids, b.todo_ids, b.due_dates))
             LIMIT 1) AS "claimedBy"
     FROM delay_notifications.notifications n ORDER BY due_date, todo_id`)

/** Creates the todos table as the todos service defines it, empty. */
export const createTodosTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(createTodosTableSql)
  yield* sql`TRUNCATE todos`
  yield* migrateLedger
})

/** The todos table holding exactly the seed's five todos. */
export const seedDatabase = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* createTodosTable
  yield* sql`INSERT INTO todos ${sql.insert(seedTodos.map((todo) => ({ ...todo })))}`
})

/** `count` delayed todos over `workspaces` workspaces, made by the server itself. */
export const insertDelayedTodos = (count: number, workspaces: number, dueDate = "2020-01-01") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      WITH ws AS (SELECT gen_random_uuid() AS id, row_number() OVER () - 1 AS n FROM generate_series(1, ${workspaces}))
      INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
      SELECT gen_random_uuid(), 'Todo ' || i, 'Someone', ${dueDate}::date, ws.id
      FROM generate_series(1, ${count}) AS i JOIN ws ON ws.n = i % ${workspaces}
    `
  })

/** The CLI's layers on this file's database, with the given notification client. */
export const layersOnDatabase = (client: Layer.Layer<NotificationClient, ConfigError.ConfigError>) =>
  Effect.map(SqlClient.SqlClient, (sql): AppLayers => {
    const database = Layer.succeed(SqlClient.SqlClient, sql)
    return {
      // On Effect's Clock, so tests move the ledger's time with TestClock (production: the database's).
      send: Layer.merge(TodoRepositoryOnClockLive, client).pipe(Layer.provide(database)),
      ledger: LedgerAdminLive.pipe(Layer.provide(database))
    }
  })
