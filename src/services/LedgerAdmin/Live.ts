/**
 * The live LedgerAdmin on PostgreSQL: the Migrator under a session lock, the state and dead letters
 * read in one pass, requeue and prune each one statement within its deadline.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { Clock, type ConfigError, DateTime, Duration, Effect, Layer } from "effect"
import { databaseDeadlinesConfig, deadlinesOf } from "../../lib/DatabaseDeadlines.js"
import { durationConfig } from "../../lib/Durations.js"
import { Env } from "../../lib/Environment.js"
import { todosTableConfig } from "../../lib/TodosTable.js"
import { ledgerSchema, migrationLoader, migrationsTable } from "../../migrations/index.js"
import { failedTo, postgresMajors, PostgresTooOld } from "../DatabaseErrors.js"
import { keyArrays, rowKeys } from "../TodoRepository/Ledger.js"
import { type DeadLetter, LedgerAdmin, type LedgerStatus, PruneRefused } from "../LedgerAdmin.js"

export const LedgerAdminLive: Layer.Layer<LedgerAdmin, ConfigError.ConfigError, SqlClient.SqlClient> = Layer.effect(
  LedgerAdmin,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Each round trip within its deadline (lib/DatabaseDeadlines.ts); what reads or writes the
    // whole ledger may run as long as a statement may.
    const within = deadlinesOf(yield* databaseDeadlinesConfig)
    const table = sql(`${ledgerSchema}.notifications`)
    const batches = sql(`${ledgerSchema}.batches`)
    const todosTable = yield* todosTableConfig
    const lockWait = yield* durationConfig(Env.MIGRATE_LOCK_TIMEOUT, Duration.minutes(2), {
      min: Duration.seconds(1),
      max: Duration.hours(1)
    })
    const runMigrations = Migrator.make({})({ loader: migrationLoader, table: migrationsTable }).pipe(
      Effect.provideService(SqlClient.SqlClient, sql)
    )

    // One migrate at a time across processes (pods that all migrate at start): a session lock
    // held on a connection of its own while the Migrator works on the others.
    // The wait for the lock is bounded (MIGRATE_LOCK_TIMEOUT): past it, migrate fails naming who holds it.
    const oneAtATime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.scoped(Effect.gen(function*() {
        const lockKey = `${ledgerSchema}.migrate`
        const connection = yield* sql.reserve
        const tryLock = Effect.map(
          within.roundTrip(connection.execute("SELECT pg_try_advisory_lock(hashtext($1)) AS locked", [lockKey], undefined)),
          (rows) => (rows[0] as { readonly locked: boolean } | undefined)?.locked === true
        )
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(lockWait)
        while (!(yield* tryLock)) {
          const holder = yield* lockHolder(lockKey)
          if ((yield* Clock.currentTimeMillis) >= deadline) {
            return yield* Effect.fail(
              new Error(`another migrate has held the migration lock for over ${Duration.format(lockWait)} (${holder})`)
            )
          }
          yield* Effect.logInfo("Waiting for another migrate to finish.").pipe(Effect.annotateLogs({ holder }))
          yield* Effect.sleep("1 second")
        }
        return yield* Effect.ensuring(
          effect,
          Effect.ignore(within.roundTrip(connection.execute("SELECT pg_advisory_unlock(hashtext($1))", [lockKey], undefined)))
        )
      }))

    /** Who holds the migration lock, on one line: pid, application, address, since when. */
    const lockHolder = (lockKey: string) =>
      sql<{ readonly pid: number; readonly app: string | null; readonly addr: string | null; readonly since: string | null }>`
        SELECT a.pid, a.application_name AS app, a.client_addr::text AS addr,
               to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
        FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(${lockKey})::bigint
        LIMIT 1`.pipe(
        within.roundTrip,
        Effect.map(([row]) =>
          row === undefined
            ? "holder unknown"
            : `held by pid ${row.pid}, application ${row.app || "-"}, from ${row.addr ?? "a local socket"}, connected since ${row.since ?? "?"}`
        )
      )

    const migrateSchema = Effect.gen(function*() {
      const [server] = yield* within.roundTrip(sql<{ readonly number: number; readonly version: string }>`
        SELECT current_setting('server_version_num')::int AS number, current_setting('server_version') AS version`)
      if (server!.number < postgresMajors.oldest * 10_000) return yield* new PostgresTooOld({ version: server!.version })
      // Only when missing: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a
      // least-privilege role that owns its schema (docs/configuration.md) does not have.
      const existing = yield* within.roundTrip(sql`SELECT 1 FROM pg_namespace WHERE nspname = ${ledgerSchema}`)
      if (existing.length === 0) yield* within.roundTrip(sql`CREATE SCHEMA ${sql(ledgerSchema)}`)
      const applied = yield* within.long(runMigrations)
      return applied.map(([id, name]) => `${id}_${name}`)
    })
    const migrate = Effect.suspend(Effect.fn("LedgerAdmin.migrate")(
      function*() {
        return yield* oneAtATime(migrateSchema)
      },
      Effect.mapError((error) => error instanceof PostgresTooOld ? error : failedTo("Migrating the job's schema")(error))
    ))

    const status = Effect.fn("LedgerAdmin.status")(
      function*(now: DateTime.Utc, limit: number) {
        const at = DateTime.formatIso(now)
        // A pending todo is claimed while the batch that holds it is (migration 7).
        const [counts] = yield* sql<LedgerStatus["counts"]>`
          WITH live AS (
            SELECT DISTINCT k.ws, k.id, k.due FROM ${batches} b,
              unnest(b.workspace_ids, b.todo_ids, b.due_dates) AS k(ws, id, due)
            WHERE b.claim_expires_at > ${at}
          )
          SELECT
            count(*) FILTER (WHERE n.state = 'pending' AND n.attempts = 0 AND l.id IS NULL)::int AS pending,
            count(*) FILTER (WHERE n.state = 'pending' AND n.attempts > 0 AND l.id IS NULL)::int AS retrying,
            count(*) FILTER (WHERE n.state = 'pending' AND l.id IS NOT NULL)::int AS claimed,
            count(*) FILTER (WHERE n.state = 'sent')::int AS sent,
            count(*) FILTER (WHERE n.state = 'dead')::int AS dead
          FROM ${table} n LEFT JOIN live l ON l.ws = n.workspace_id AND l.id = n.todo_id AND l.due = n.due_date`
        const [oldestPending] = yield* sql<NonNullable<LedgerStatus["oldestPending"]>>`
          SELECT workspace_id::text AS "workspaceId", todo_id::text AS "todoId", due_date::text AS "dueDate"
          FROM ${table} WHERE state = 'pending' ORDER BY due_date, todo_id LIMIT 1`
        const deadLetters = yield* sql<DeadLetter>`
          SELECT workspace_id::text AS "workspaceId", todo_id::text AS "todoId", due_date::text AS "dueDate",
                 attempts, last_status AS "lastStatus", last_error AS "lastError",
                 to_char(dead_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
          FROM ${table} WHERE dead_since IS NOT NULL ORDER BY dead_since DESC LIMIT ${limit}`
        return { counts: counts!, oldestPending: oldestPending ?? null, deadLetters }
      },
      within.long,
      Effect.mapError(failedTo("Reading the job's state"))
    )

    const requeue = Effect.fn("LedgerAdmin.requeue")(
      function*(filter: { readonly workspaceId?: string | undefined; readonly todoId?: string | undefined }, now: DateTime.Utc) {
        const at = DateTime.formatIso(now)
        // Pending again, in batches of their own that claims take like any other.
        const [requeued] = yield* sql<{ readonly n: number }>`
          WITH requeued AS (
            UPDATE ${table}
            SET state = 'pending', attempts = 0, next_attempt_at = ${at}, updated_at = ${at}, dead_since = NULL
            WHERE dead_since IS NOT NULL
              AND (${filter.workspaceId ?? null}::uuid IS NULL OR workspace_id = ${filter.workspaceId ?? null}::uuid)
              AND (${filter.todoId ?? null}::uuid IS NULL OR todo_id = ${filter.todoId ?? null}::uuid)
            RETURNING workspace_id, todo_id, due_date, fair_rank
          ),
          ordered AS (SELECT r.*, row_number() OVER (ORDER BY due_date, workspace_id, todo_id) AS rn FROM requeued r),
          batched AS (
            INSERT INTO ${batches} (next_attempt_at, fair_rank, oldest_due, workspace_ids, todo_ids, due_dates)
            SELECT ${at}, min(fair_rank), min(due_date), ${keyArrays(sql, rowKeys, sql`rn`)}
            FROM ordered GROUP BY (rn - 1) / 200
            RETURNING 1
          )
          SELECT count(*)::int AS n FROM requeued`
        return requeued?.n ?? 0
      },
      within.long,
      Effect.mapError(failedTo("Requeueing dead letters"))
    )

    // Compared as the uuid and date types read them, so another spelling of an id is the same todo.
    // Pending rows are left to the claims, which drop those whose todo has gone (a batch holds them).
    const prunable = (before: DateTime.Utc) => sql`
      n.updated_at < ${DateTime.formatIso(before)}
      AND n.state <> 'pending'
      AND NOT EXISTS (
        SELECT 1 FROM ${sql(todosTable)} t
        WHERE ${sql(ledgerSchema)}.try_uuid(t.id::text) = n.todo_id
          AND ${sql(ledgerSchema)}.try_uuid(t."workspaceId"::text) = n.workspace_id
          AND ${sql(ledgerSchema)}.try_date(t."dueDate"::text) = n.due_date
      )`

    const prune = Effect.fn("LedgerAdmin.prune")(
      function*(before: DateTime.Utc, guard: { readonly force: boolean; readonly maxShare: number }) {
        const [counts] = yield* sql<{ readonly sent: number; readonly wouldDelete: number }>`
          SELECT count(*) FILTER (WHERE n.state = 'sent')::int AS sent,
                 count(*) FILTER (WHERE n.state = 'sent' AND ${prunable(before)})::int AS "wouldDelete"
          FROM ${table} n`
        const { sent, wouldDelete } = counts!
        if (!guard.force && wouldDelete > 0 && wouldDelete * 100 > sent * guard.maxShare) {
          return yield* new PruneRefused({ todosTable, wouldDelete, sent, maxShare: guard.maxShare })
        }
        const [pruned] = yield* sql<{ readonly n: number }>`
          WITH pruned AS (DELETE FROM ${table} n WHERE ${prunable(before)} RETURNING 1)
          SELECT count(*)::int AS n FROM pruned`
        return { pruned: pruned?.n ?? 0, todosTable }
      },
      sql.withTransaction,
      within.long,
      Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Pruning the job's state")(error)))
    )

    return LedgerAdmin.of({ migrate, status, requeue, prune })
  })
)
