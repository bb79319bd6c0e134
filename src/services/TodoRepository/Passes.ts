/**
 * The record of a run's reads of the todos table (the passes table, migrations 5 and 6): what a
 * run reads is planned from it (domain/Reading), and a read that completed is written to it, as
 * what it was (a full pass, a window, a replay). A read that stops or fails halfway writes
 * nothing, so the next run reads from the last complete one. Planning also checks that the host's
 * clock (the reference date's) and the database's (the ledger's) agree.
 */
import type { Statement } from "@effect/sql"
import { Clock, DateTime, Duration, Effect } from "effect"
import { planReading, type Reading, recordedAs } from "../../domain/Reading.js"
import { CalendarDate } from "../../domain/Todo.js"
import { regclassName } from "../../lib/TodosTable.js"
import { ledgerSchema } from "../../migrations/index.js"
import { ClocksDisagree, clockSkewMarginMs, failedTo } from "../DatabaseErrors.js"
import type { Ledger } from "./Ledger.js"

/** How long the record of a window or a replay is kept: far longer than a window reaches back. */
const windowsKept = Duration.days(7)

export const makePasses = ({ interval, ledgerNow, sql, time, todosName, within }: Ledger) => {
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

  /** On the database's time, the host's clock must agree with it (ClocksDisagree). */
  const sameClocks = (databaseNow: number) =>
    time === "clock" ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (hostNow) =>
      Math.abs(hostNow - databaseNow) <= clockSkewMarginMs ? Effect.void : new ClocksDisagree({
        hostTime: DateTime.formatIso(DateTime.unsafeMake(hostNow)),
        databaseTime: DateTime.formatIso(DateTime.unsafeMake(databaseNow))
      }))

  const plan = (reference: CalendarDate, options: { readonly replay: boolean; readonly fullPassEvery: Duration.Duration }) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql<{ readonly now: number; readonly lastFull: number | null; readonly lastReference: string | null; readonly indexed: boolean }>`
        SELECT ${epochMs(now)} AS now,
          (SELECT ${epochMs(sql`max(started_at)`)} FROM ${passes} WHERE kind = 'full') AS "lastFull",
          (SELECT max(reference)::text FROM ${passes} WHERE kind IN ('full', 'window')) AS "lastReference",
          ${indexed} AS indexed`).pipe(
      within.roundTrip,
      Effect.mapError(failedTo("Planning what to read of the todos table")),
      Effect.tap(([row]) => sameClocks(row?.now ?? 0)),
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
      )
    )

  /**
   * The todos table's file (pg_class.relfilenode): a new one once the table was rewritten (CLUSTER,
   * VACUUM FULL, pg_repack, TRUNCATE), which moves rows across pages.
   */
  const fileOfTodos = sql`(SELECT c.relfilenode::text FROM pg_class c WHERE c.oid = to_regclass(${regclassName(todosName)}))`

  /** When a read begins: the ledger's time now (epoch milliseconds), and the todos table's file. */
  const begin = Effect.flatMap(ledgerNow, (now) => sql<{ readonly at: number; readonly file: string | null }>`
    SELECT ${epochMs(now)} AS at, ${fileOfTodos} AS file`).pipe(
    Effect.map(([row]) => ({ at: row?.at ?? 0, file: row?.file ?? null })),
    within.roundTrip,
    Effect.mapError(failedTo("Reading the database's time"))
  )

  /**
   * Records a read that completed, unless the todos table was rewritten while a full pass read it
   * in parts (a row moved to a part already read is missed: the next run reads the whole table
   * again); false then. The records of old windows and replays go.
   */
  const complete = (reading: Reading, reference: CalendarDate, started: Effect.Effect.Success<typeof begin>) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql.withTransaction(Effect.zipLeft(
        sql<{ readonly recorded: number }>`
          WITH recorded AS (
            INSERT INTO ${passes} (kind, reference, started_at, completed_at)
            SELECT ${recordedAs(reading)}, ${reference}::date, to_timestamp(${started.at} / 1000.0), ${now}
            WHERE ${reading._tag === "Window" ? sql`true` : sql`${fileOfTodos} IS NOT DISTINCT FROM ${started.file}`}
            RETURNING 1
          )
          SELECT count(*)::int AS recorded FROM recorded`,
        sql`DELETE FROM ${passes} WHERE kind <> 'full' AND started_at < ${now} - ${interval(windowsKept)}`
      ))).pipe(
        Effect.map(([row]) => (row?.recorded ?? 0) > 0),
        within.roundTrip,
        Effect.mapError(failedTo("Recording a complete read of the todos table"))
      )

  return { plan, begin, complete }
}
