import { Migrator, SqlClient } from "@effect/sql"
import { Context, DateTime, Effect, Layer } from "effect"
import { ledgerSchema, migrationLoader, migrationsTable } from "../migrations/index.js"
import { DatabaseError } from "./TodoRepository.js"

export interface DeadLetter {
  readonly workspaceId: string
  readonly todoId: string
  readonly dueDate: string
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly since: string
}

export interface LedgerStatus {
  /** Rows by state: pending (never tried), retrying (failed, waiting for the next try), claimed (held by a run now), sent, dead. */
  readonly counts: {
    readonly pending: number
    readonly retrying: number
    readonly claimed: number
    readonly sent: number
    readonly dead: number
  }
  /** The pending todo due the longest, if any. */
  readonly oldestPending: { readonly workspaceId: string; readonly todoId: string; readonly dueDate: string } | null
  /** The newest dead letters (at most `limit`). */
  readonly deadLetters: ReadonlyArray<DeadLetter>
}

/** What operators do with the job's state: migrate it, look at it, requeue dead letters, prune it. */
export class LedgerAdmin extends Context.Tag("app/LedgerAdmin")<LedgerAdmin, {
  /** Creates or updates the job's own schema; returns the migrations applied now. Idempotent. */
  readonly migrate: Effect.Effect<ReadonlyArray<string>, DatabaseError>
  readonly status: (now: DateTime.Utc, limit: number) => Effect.Effect<LedgerStatus, DatabaseError>
  /** Makes dead letters (all, or of one workspace / todo) pending again with fresh attempts. */
  readonly requeue: (
    filter: { readonly workspaceId?: string | undefined; readonly todoId?: string | undefined },
    now: DateTime.Utc
  ) => Effect.Effect<number, DatabaseError>
  /**
   * Deletes rows, older than `before`, whose todo no longer exists with that due date (deleted, or
   * its due date moved). Rows of existing todos stay: without them a todo would be notified again.
   */
  readonly prune: (before: DateTime.Utc) => Effect.Effect<number, DatabaseError>
}>() {
  static readonly layer: Layer.Layer<LedgerAdmin, never, SqlClient.SqlClient> = Layer.effect(
    LedgerAdmin,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = sql(`${ledgerSchema}.notifications`)
      const fail = (operation: string) => (cause: unknown) => new DatabaseError({ operation, cause })
      const runMigrations = Migrator.make({})({ loader: migrationLoader, table: migrationsTable }).pipe(
        Effect.provideService(SqlClient.SqlClient, sql)
      )

      // One migrate at a time across processes (pods that all migrate at start): a session lock
      // held on a connection of its own while the Migrator works on the others.
      const oneAtATime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.scoped(Effect.gen(function*() {
          const lockKey = `${ledgerSchema}.migrate`
          const connection = yield* sql.reserve
          yield* connection.execute("SELECT pg_advisory_lock(hashtext($1))", [lockKey], undefined)
          return yield* Effect.ensuring(
            effect,
            Effect.ignore(connection.execute("SELECT pg_advisory_unlock(hashtext($1))", [lockKey], undefined))
          )
        }))

      const migrate = oneAtATime(Effect.gen(function*() {
        // Only when missing: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a
        // least-privilege role that owns its schema (README) does not have.
        const existing = yield* sql`SELECT 1 FROM pg_namespace WHERE nspname = ${ledgerSchema}`
        if (existing.length === 0) yield* sql`CREATE SCHEMA ${sql(ledgerSchema)}`
        const applied = yield* runMigrations
        return applied.map(([id, name]) => `${id}_${name}`)
      })).pipe(Effect.mapError(fail("Migrating the job's schema")), Effect.withSpan("LedgerAdmin.migrate"))

      const status = (now: DateTime.Utc, limit: number) =>
        Effect.gen(function*() {
          const at = DateTime.formatIso(now)
          const [counts] = yield* sql<LedgerStatus["counts"]>`
            SELECT
              count(*) FILTER (WHERE state = 'pending' AND attempts = 0 AND (claim_expires_at IS NULL OR claim_expires_at <= ${at}))::int AS pending,
              count(*) FILTER (WHERE state = 'pending' AND attempts > 0 AND (claim_expires_at IS NULL OR claim_expires_at <= ${at}))::int AS retrying,
              count(*) FILTER (WHERE state = 'pending' AND claim_expires_at > ${at})::int AS claimed,
              count(*) FILTER (WHERE state = 'sent')::int AS sent,
              count(*) FILTER (WHERE state = 'dead')::int AS dead
            FROM ${table}`
          const [oldestPending] = yield* sql<NonNullable<LedgerStatus["oldestPending"]>>`
            SELECT workspace_id::text AS "workspaceId", todo_id::text AS "todoId", due_date::text AS "dueDate"
            FROM ${table} WHERE state = 'pending' ORDER BY due_date, todo_id LIMIT 1`
          const deadLetters = yield* sql<DeadLetter>`
            SELECT workspace_id::text AS "workspaceId", todo_id::text AS "todoId", due_date::text AS "dueDate",
                   attempts, last_status AS "lastStatus", last_error AS "lastError",
                   to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
            FROM ${table} WHERE state = 'dead' ORDER BY updated_at DESC LIMIT ${limit}`
          return { counts: counts!, oldestPending: oldestPending ?? null, deadLetters }
        }).pipe(Effect.mapError(fail("Reading the job's state")), Effect.withSpan("LedgerAdmin.status"))

      const requeue = (filter: { readonly workspaceId?: string | undefined; readonly todoId?: string | undefined }, now: DateTime.Utc) =>
        sql<{ readonly n: number }>`
          WITH requeued AS (
            UPDATE ${table}
            SET state = 'pending', attempts = 0, next_attempt_at = ${DateTime.formatIso(now)}, updated_at = ${DateTime.formatIso(now)}
            WHERE state = 'dead'
              AND (${filter.workspaceId ?? null}::uuid IS NULL OR workspace_id = ${filter.workspaceId ?? null}::uuid)
              AND (${filter.todoId ?? null}::uuid IS NULL OR todo_id = ${filter.todoId ?? null}::uuid)
            RETURNING 1
          )
          SELECT count(*)::int AS n FROM requeued`.pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          Effect.mapError(fail("Requeueing dead letters")),
          Effect.withSpan("LedgerAdmin.requeue")
        )

      const prune = (before: DateTime.Utc) =>
        sql<{ readonly n: number }>`
          WITH pruned AS (
            DELETE FROM ${table} n
            WHERE n.updated_at < ${DateTime.formatIso(before)}
              AND (n.claim_expires_at IS NULL OR n.claim_expires_at < ${DateTime.formatIso(before)})
              AND NOT EXISTS (
                SELECT 1 FROM todos t
                WHERE t.id::text = n.todo_id::text AND t."workspaceId"::text = n.workspace_id::text
                  AND t."dueDate"::text = n.due_date::text
              )
            RETURNING 1
          )
          SELECT count(*)::int AS n FROM pruned`.pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          Effect.mapError(fail("Pruning the job's state")),
          Effect.withSpan("LedgerAdmin.prune")
        )

      return LedgerAdmin.of({ migrate, status, requeue, prune })
    })
  )
}
