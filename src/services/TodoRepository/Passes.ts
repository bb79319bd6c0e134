/**
 * The record of a run's reads of the todos table (the passes table, migration 5): what a run
 * reads is planned from it (domain/Reading), and a read that completed is written to it. A read
 * that stops or fails halfway writes nothing, so the next run reads from the last complete one.
 */
import type { Statement } from "@effect/sql"
import { Duration, Effect } from "effect"
import { planReading, type Reading } from "../../domain/Reading.js"
import { CalendarDate } from "../../domain/Todo.js"
import { regclassName } from "../../lib/TodosTable.js"
import { ledgerSchema } from "../../migrations/index.js"
import { failedTo } from "../DatabaseErrors.js"
import type { Ledger } from "./Ledger.js"

/** How long the record of a window is kept: far longer than a window reaches back. */
const windowsKept = Duration.days(7)

export const makePasses = ({ interval, ledgerNow, sql, todosName, within }: Ledger) => {
  const passes = sql(`${ledgerSchema}.passes`)
  const epochMs = (value: Statement.Fragment) => sql`(extract(epoch FROM ${value}) * 1000)::float8`

  /**
   * An index a window can use: a valid b-tree whose first column is "dueDate", a date, on the
   * whole table (not partial).
   */
  const indexed = sql`EXISTS (
    SELECT 1 FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = to_regclass(${regclassName(todosName)}) AND a.attname = 'dueDate'
      AND a.atttypid = 'date'::regtype AND i.indisvalid AND i.indisready AND i.indpred IS NULL
      AND am.amname = 'btree')`

  /** A full pass for want of an index says which index would spare it, on this table. */
  const withIndexAdvice = (reading: Reading): Reading =>
    reading._tag === "FullPass" && reading.reason === "no-index"
      ? { ...reading, createIndex: `CREATE INDEX CONCURRENTLY ON ${todosName} ("dueDate")` }
      : reading

  const plan = (reference: CalendarDate, options: { readonly replay: boolean; readonly fullPassEvery: Duration.Duration }) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql<{ readonly now: number; readonly lastFull: number | null; readonly lastReference: string | null; readonly indexed: boolean }>`
        SELECT ${epochMs(now)} AS now,
          (SELECT ${epochMs(sql`max(started_at)`)} FROM ${passes} WHERE kind = 'full') AS "lastFull",
          (SELECT max(reference)::text FROM ${passes}) AS "lastReference",
          ${indexed} AS indexed`).pipe(
      Effect.map(([row]) =>
        withIndexAdvice(planReading({
          reference,
          replay: options.replay,
          indexed: row?.indexed === true,
          lastFullPassAt: row?.lastFull ?? undefined,
          lastReference: row?.lastReference == null ? undefined : CalendarDate.make(row.lastReference),
          now: row?.now ?? 0,
          fullPassEvery: options.fullPassEvery
        }))
      ),
      within.roundTrip,
      Effect.mapError(failedTo("Planning what to read of the todos table"))
    )

  /** The ledger's time now (epoch milliseconds): when a read begins. */
  const begin = Effect.flatMap(ledgerNow, (now) => sql<{ readonly at: number }>`SELECT ${epochMs(now)} AS at`).pipe(
    Effect.map(([row]) => row?.at ?? 0),
    within.roundTrip,
    Effect.mapError(failedTo("Reading the database's time"))
  )

  /** Records a read that completed; the records of old windows go. */
  const complete = (reading: Reading, reference: CalendarDate, startedAt: number) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql.withTransaction(Effect.zipRight(
        sql`INSERT INTO ${passes} (kind, reference, started_at, completed_at)
            VALUES (${reading._tag === "FullPass" ? "full" : "window"}, ${reference}::date, to_timestamp(${startedAt} / 1000.0), ${now})`,
        sql`DELETE FROM ${passes} WHERE kind = 'window' AND started_at < ${now} - ${interval(windowsKept)}`
      ))).pipe(
        within.roundTrip,
        Effect.mapError(failedTo("Recording a complete read of the todos table"))
      )

  return { plan, begin, complete }
}
