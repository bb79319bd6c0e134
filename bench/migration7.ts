/**
 * `tsx bench/migration7.ts [--rows 1000000]`: how long migration 7 (claims of batches) takes over a
 * ledger of migration 6 with `rows` rows (9 in 10 sent, the rest pending, some of those under a
 * live claim, a few dead letters), and the lock it holds: the Migrator runs a migration in one
 * transaction, so the ledger is locked (ACCESS EXCLUSIVE, from its first ALTER TABLE) until it
 * commits. For the CHANGELOG's table.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Reactivity } from "@effect/experimental"
import { Effect, Redacted } from "effect"
import { parseArgs } from "node:util"
import { startEmbeddedPostgres } from "../dev/embeddedPostgres.js"
import { createTodosTableSql } from "../dev/seedTodos.js"
import { migrations, migrationsTable } from "../src/migrations/index.js"

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000000" } } })
const rows = Number(values.rows)
const { "7_batches": seventh, ...throughSix } = migrations
const database = await startEmbeddedPostgres()

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(createTodosTableSql)
  yield* sql`CREATE SCHEMA delay_notifications`
  yield* Migrator.make({})({ loader: Migrator.fromRecord(throughSix), table: migrationsTable })
  yield* sql.unsafe(`
    INSERT INTO delay_notifications.notifications
      (workspace_id, todo_id, due_date, state, attempts, next_attempt_at, claimed_by, claim_expires_at, created_at, updated_at, sent_at, fair_rank)
    SELECT ws, gen_random_uuid(), DATE '2020-01-01' + (g % 700),
           CASE WHEN g % 10 <> 0 THEN 'sent' WHEN g % 1000 = 0 THEN 'dead' ELSE 'pending' END,
           CASE WHEN g % 10 <> 0 THEN 1 ELSE 0 END, now(),
           CASE WHEN g % 100 = 10 THEN '11111111-1111-4111-8111-111111111111'::uuid END,
           CASE WHEN g % 100 = 10 THEN now() + interval '5 minutes' END,
           now(), now(), CASE WHEN g % 10 <> 0 THEN now() END, g % 50
    FROM generate_series(1, ${rows}) g, LATERAL (SELECT ('00000000-0000-4000-8000-' || lpad((g % ${Math.max(10, rows / 100)})::text, 12, '0'))::uuid AS ws) w`)
  yield* sql`VACUUM ANALYZE delay_notifications.notifications`
  const [counts] = yield* sql<{ pending: number; claimed: number; dead: number }>`
    SELECT count(*) FILTER (WHERE state = 'pending')::int AS pending, count(*) FILTER (WHERE claimed_by IS NOT NULL)::int AS claimed,
           count(*) FILTER (WHERE state = 'dead')::int AS dead FROM delay_notifications.notifications`
  const started = performance.now()
  yield* Migrator.make({})({ loader: Migrator.fromRecord({ ...throughSix, "7_batches": seventh }), table: migrationsTable })
  const ms = performance.now() - started
  const [batches] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM delay_notifications.batches`
  console.log(`migration 7 over ${rows.toLocaleString("en")} rows (${counts!.pending.toLocaleString("en")} pending, ${counts!.claimed.toLocaleString("en")} under a live claim, ${counts!.dead.toLocaleString("en")} dead): ${(ms / 1000).toFixed(2)} s in one transaction, the ledger locked (ACCESS EXCLUSIVE) throughout; ${batches!.n.toLocaleString("en")} batches`)
})

await Effect.runPromise(program.pipe(
  Effect.provide(PgClient.layer({ url: Redacted.make(database.url) })),
  Effect.provide(Reactivity.layer),
  Effect.ensuring(Effect.promise(() => database.stop()))
))
