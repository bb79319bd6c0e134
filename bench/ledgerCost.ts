/**
 * Where the database's work goes in one run (bench/run.ts --statements): pg_stat_statements per
 * statement, the WAL of the run by record type (pg_walinspect's pg_get_wal_stats, the figures of
 * `pg_waldump --stats` read inside the server), the sizes of the tables and their indexes, and
 * the share of heap-only (HOT) updates; each per notification, rendered as markdown for
 * bench/NOTES.md.
 */
import { writeFileSync } from "node:fs"
import type pg from "pg"

/** The server flags that make pg_stat_statements available (it must be loaded at start). */
export const statementsServerFlags = [
  "-c", "shared_preload_libraries=pg_stat_statements",
  "-c", "pg_stat_statements.track=top",
  "-c", "pg_stat_statements.track_utility=off",
  "-c", "pg_stat_statements.track_planning=on",
  "-c", "pg_stat_statements.max=1000"
]

interface StatementRow {
  readonly query: string
  readonly calls: number
  readonly rows: number
  readonly hit: number
  readonly read: number
  readonly dirtied: number
  readonly written: number
  readonly walRecords: number
  readonly walFpi: number
  readonly walBytes: number
  readonly ms: number
  readonly planMs: number
}

interface WalRow {
  readonly kind: string
  readonly count: number
  readonly recordBytes: number
  readonly fpiBytes: number
}

interface TableRow {
  readonly relation: string
  readonly bytes: number
  readonly inserted?: number
  readonly updated?: number
  readonly hot?: number
  readonly deleted?: number
}

export interface RunCost {
  readonly label: string
  readonly notifications: number
  readonly walBytes: number
  readonly statements: ReadonlyArray<StatementRow>
  readonly wal: ReadonlyArray<WalRow>
  readonly tables: ReadonlyArray<TableRow>
}

/** The extensions in the benchmark's database (pg_walinspect reads the server's WAL). */
export const prepareStatements = async (db: pg.Client) => {
  await db.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
  await db.query("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
}

/** Counters zeroed and the WAL position read just before a run; `after` reads what it did. */
export const startStatements = async (db: pg.Client) => {
  await db.query("SELECT pg_stat_statements_reset()")
  await db.query("SELECT pg_stat_reset()")
  const start = (await db.query("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0].lsn as string
  return {
    after: async (label: string, notifications: number): Promise<RunCost> => {
      const end = (await db.query("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0].lsn as string
      const walBytes = Number((await db.query("SELECT pg_wal_lsn_diff($1, $2) AS d", [end, start])).rows[0].d)
      const statements = (await db.query(`
        SELECT query, calls, rows, shared_blks_hit AS hit, shared_blks_read AS read, shared_blks_dirtied AS dirtied,
               shared_blks_written AS written, wal_records AS "walRecords", wal_fpi AS "walFpi", wal_bytes AS "walBytes",
               total_exec_time AS ms, total_plan_time AS "planMs"
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY total_exec_time DESC`)).rows.map((r) => ({
        query: String(r.query), calls: Number(r.calls), rows: Number(r.rows), hit: Number(r.hit), read: Number(r.read),
        dirtied: Number(r.dirtied), written: Number(r.written), walRecords: Number(r.walRecords), walFpi: Number(r.walFpi),
        walBytes: Number(r.walBytes), ms: Number(r.ms), planMs: Number(r.planMs)
      }))
      const wal = (await db.query(`
        SELECT "resource_manager/record_type" AS kind, count, record_size, fpi_size
        FROM pg_get_wal_stats($1, $2, true) WHERE count > 0 ORDER BY combined_size DESC`, [start, end])).rows.map((r) => ({
        kind: String(r.kind), count: Number(r.count), recordBytes: Number(r.record_size), fpiBytes: Number(r.fpi_size)
      }))
      // The statistics of tables are flushed about once a second; bench/run.ts waits before calling this.
      const tables = (await db.query(`
        SELECT c.oid::regclass::text AS relation, pg_relation_size(c.oid) AS bytes,
               s.n_tup_ins AS inserted, s.n_tup_upd AS updated, s.n_tup_hot_upd AS hot, s.n_tup_del AS deleted
        FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.relkind IN ('r', 'i')
          AND (c.oid IN (SELECT to_regclass('delay_notifications.notifications') UNION SELECT to_regclass('todos'))
               OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (to_regclass('delay_notifications.notifications'), to_regclass('todos'))))
        ORDER BY c.relkind DESC, relation`)).rows.map((r) => ({
        relation: String(r.relation), bytes: Number(r.bytes),
        ...(r.inserted === null ? {} : { inserted: Number(r.inserted), updated: Number(r.updated), hot: Number(r.hot), deleted: Number(r.deleted) })
      }))
      return { label, notifications, walBytes, statements, wal, tables }
    }
  }
}

const per = (value: number, n: number, digits = 1) => (value / Math.max(1, n)).toFixed(digits)
const oneLine = (query: string) => query.replace(/\s+/g, " ").slice(0, 110).replace(/\|/g, "\\|")

/** One run's figures as markdown: statements, WAL by record type, relations. */
export const renderCost = (cost: RunCost): string => {
  const n = cost.notifications
  const statements = cost.statements.filter((s) => s.walBytes > 0 || s.ms >= 1).map((s) =>
    `| ${oneLine(s.query)} | ${s.calls.toLocaleString("en")} | ${per(s.rows, n, 2)} | ${per(s.hit, n)} | ${per(s.dirtied, n, 2)} | ${per(s.written, n, 2)} | ${per(s.walRecords, n, 2)} | ${per(s.walBytes, n, 0)} | ${per(s.walFpi, n, 3)} | ${per(s.ms * 1000, n, 1)} | ${per(s.planMs * 1000, n, 1)} |`
  )
  const walTotal = cost.wal.reduce((sum, w) => sum + w.recordBytes + w.fpiBytes, 0)
  const wal = cost.wal.filter((w) => w.recordBytes + w.fpiBytes >= walTotal / 200).map((w) =>
    `| ${w.kind} | ${per(w.count, n, 2)} | ${per(w.recordBytes, n, 0)} | ${per(w.fpiBytes, n, 0)} |`
  )
  const tables = cost.tables.map((t) =>
    `| ${t.relation} | ${t.bytes.toLocaleString("en")} | ${per(t.bytes, n, 0)} | ${t.inserted ?? ""} | ${t.updated ?? ""} | ${t.updated === undefined || t.updated === 0 ? "" : `${((100 * t.hot!) / t.updated).toFixed(0)} %`} | ${t.deleted ?? ""} |`
  )
  return `#### ${cost.label}: ${n.toLocaleString("en")} notifications, ${per(cost.walBytes, n, 0)} bytes of WAL each

| statement (pg_stat_statements) | calls | rows / notif. | blocks hit / notif. | dirtied | written | WAL records | WAL bytes | FPI | execution µs / notif. | planning µs / notif. |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${statements.join("\n")}

| WAL record (pg_get_wal_stats, per notification) | records | record bytes | full-page image bytes |
| --- | --- | --- | --- |
${wal.join("\n")}

| relation | bytes after the run | bytes / notif. | rows inserted | updated | HOT | deleted |
| --- | --- | --- | --- | --- | --- | --- |
${tables.join("\n")}
`
}

/** Every run's figures, in the order run, to `file` (markdown). */
export const writeCosts = (file: string, costs: ReadonlyArray<RunCost>) =>
  writeFileSync(file, costs.map(renderCost).join("\n"))
