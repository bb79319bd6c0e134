/**
 * What every statement of the TodoRepository on PostgreSQL shares: the client, the ledger's and
 * the todos table's names, the ledger's "now", and the todos table's shape; made once per layer,
 * after checking that the job's schema is current.
 */
import { SqlClient, type SqlError, type Statement } from "@effect/sql"
import { DateTime, Duration, Effect } from "effect"
import { databaseDeadlinesConfig, deadlinesOf } from "../../lib/DatabaseDeadlines.js"
import { describeCause } from "../../lib/Errors.js"
import { regclassName, todosTableConfig } from "../../lib/TodosTable.js"
import { latestMigrationId, ledgerSchema, migrationsTable } from "../../migrations/index.js"
import { failedTo, SchemaNotCurrent } from "../DatabaseErrors.js"
import type { LedgerTime } from "../TodoRepository.js"

const iso = (time: DateTime.Utc) => DateTime.formatIso(time)

/** A value PostgreSQL refused as data (SQLSTATE class 22: bad text, bad JSON, out of range). */
export const isDataException = (error: SqlError.SqlError): boolean => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && code.startsWith("22")
}

export const makeLedger = (time: LedgerTime) => Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  /** Every statement is bounded by the deadline of its kind (lib/DatabaseDeadlines.ts). */
  const within = deadlinesOf(yield* databaseDeadlinesConfig)
  const schema = sql(ledgerSchema)
  const table = sql(`${ledgerSchema}.notifications`)
  /** The batches of pending todos that claims take (migration 7). */
  const batches = sql(`${ledgerSchema}.batches`)
  const todosName = yield* todosTableConfig
  const todos = sql(todosName)
  /** The ledger's "now" in a statement: the database's, or Effect's Clock's (see LedgerTime). */
  const ledgerNow = time === "database"
    ? Effect.succeed(sql`now()`)
    : Effect.map(DateTime.now, (now) => sql`${iso(now)}::timestamptz`)
  const interval = (duration: Duration.Duration) => sql`(${Math.round(Duration.toMillis(duration))} * interval '1 millisecond')`

  const applied = yield* sql<{ readonly id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(migrationsTable)}`.pipe(
    within.roundTrip,
    Effect.map((rows) => rows[0]?.id ?? 0),
    // No migrations table yet: nothing applied.
    Effect.catchIf((error) => /does not exist/.test(describeCause(error)), () => Effect.succeed(0)),
    Effect.mapError(failedTo("Checking the job's schema"))
  )
  if (applied < latestMigrationId) return yield* new SchemaNotCurrent({ applied, expected: latestMigrationId })

  /**
   * The todos table as the todos service defines it (uuid, uuid, date) can hold no undecodable
   * row, so the job reads it directly. If someone changed a type by hand, every value goes
   * through the tolerant conversions and the rows they refuse are reported.
   */
  const todosShape = yield* Effect.cached(
    sql<{ readonly name: string; readonly type: string }>`
      SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
      FROM pg_attribute a
      WHERE a.attrelid = to_regclass(${regclassName(todosName)}) AND a.attnum > 0 AND NOT a.attisdropped
    `.pipe(
      within.roundTrip,
      Effect.mapError(failedTo(`Reading the shape of the todos table (${todosName})`)),
      Effect.flatMap((columns) => {
        const failed = (reason: string) => Effect.fail(failedTo(`Reading the shape of the todos table (${todosName})`)(new Error(reason)))
        if (columns.length === 0) return failed(`relation "${todosName}" does not exist`)
        const types = new Map(columns.map((c) => [c.name, c.type]))
        const missing = ["id", "workspaceId", "dueDate"].filter((name) => !types.has(name))
        if (missing.length > 0) return failed(`the todos table has no column ${missing.map((m) => `"${m}"`).join(", ")}`)
        return Effect.succeed(
          types.get("id") === "uuid" && types.get("workspaceId") === "uuid" && types.get("dueDate") === "date"
            ? ("typed" as const)
            : ("converted" as const)
        )
      })
    )
  )

  // In the tolerant mode values are compared as PostgreSQL's uuid and date types read them, so
  // another spelling of an id (upper case, braces) is the same todo.
  const convert = {
    workspaceId: sql`${schema}.try_uuid(t."workspaceId"::text)`,
    id: sql`${schema}.try_uuid(t.id::text)`,
    dueDate: sql`${schema}.try_date(t."dueDate"::text)`
  }

  return { sql, within, schema, table, batches, todos, todosName, time, ledgerNow, interval, todosShape, convert }
})

export type Ledger = Effect.Effect.Success<ReturnType<typeof makeLedger>>

/** The ledger's own key columns, as a batch's keys are aggregated from its rows. */
export const rowKeys = { ws: "workspace_id", id: "todo_id", due: "due_date" } as const

/**
 * A batch's keys from rows: its three arrays (workspace_ids, todo_ids, due_dates, in that order)
 * aggregated from the columns named, in `order` (the claims' order of the batch's todos), named
 * ws, ids and dues when `named`.
 */
export const keyArrays = (
  sql: SqlClient.SqlClient,
  columns: { readonly ws: string; readonly id: string; readonly due: string },
  order: Statement.Fragment,
  named = false
) => {
  const one = (column: string, name: string) =>
    sql`array_agg(${sql.literal(column)} ORDER BY ${order})${named ? sql.literal(` AS ${name}`) : sql.literal("")}`
  return sql`${one(columns.ws, "ws")}, ${one(columns.id, "ids")}, ${one(columns.due, "dues")}`
}

/** The todos of batch `b` (a row of the batches table in a statement) as rows k(ws, id, due, place). */
export const keysOf = ({ sql }: Ledger, b: string) =>
  sql.unsafe(`unnest(${b}.workspace_ids, ${b}.todo_ids, ${b}.due_dates) WITH ORDINALITY AS k(ws, id, due, place)`)
