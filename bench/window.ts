/**
 * `npm run bench` (after bench/limits.ts), or `tsx bench/window.ts [--sizes 1000000,5000000]
 * [--runs 3]`: what a cron run costs over a large todos table once its backlog is sent. The table
 * holds N todos due over the last 900 days (N/100 workspaces), every one already sent (the ledger
 * filled and vacuumed), with an index on "dueDate". Rows, each a median of --runs:
 * - a full pass with nothing new (`--full-pass-every 0s`), and the same read by the job as it was
 *   before windows (`--before dist-dir`: a build of that code, optional);
 * - a window with nothing new (the run after a full pass);
 * - at the largest N, a window with 1,000 new todos due yesterday: when its first notification
 *   reached the fake notify service.
 * Each row: the run's wall time, the job's CPU, PostgreSQL's CPU (all its processes), and the
 * shared buffers its statements hit or read (pg_stat_statements). Written to
 * bench/results-window.json; bench/run.ts renders it into RESULTS.md (windowTable.ts).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"
import { startEmbeddedPostgres } from "../dev/embeddedPostgres.js"
import { createTodosTableSql } from "../dev/seedTodos.js"
import { freshDatabase, postgresCpuMicros, procStat, spawnCheapFake } from "./support.js"

const { values } = parseArgs({
  options: { sizes: { type: "string", default: "1000000,5000000" }, runs: { type: "string", default: "3" }, before: { type: "string" } }
})
const sizes = values.sizes.split(",").map(Number)
const runs = Number(values.runs)
const root = path.resolve(import.meta.dirname, "..")
const clientId = "bench"
const clientSecret = "bench-secret"

export interface WindowMeasurement {
  readonly n: number
  readonly row: "full pass" | "full pass, before windows" | "window" | "window, 1,000 new"
  readonly wallMs: number
  readonly jobCpuMs: number
  readonly dbCpuMs: number
  readonly buffers: number
  readonly sent: number
  /** From the start of the process to the first notification at the fake (the row with new todos). */
  readonly firstMs: number | null
  readonly exit: string
}

const waitForExit = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })))

const startFake = async () => {
  const { child, url } = await spawnCheapFake(0, clientId, clientSecret)
  return {
    url,
    reset: () => fetch(`${url}/__fake/reset`, { method: "POST" }),
    stats: async () => (await (await fetch(`${url}/__fake/stats`)).json()) as { notifications: number; firstNotificationAt: number | null },
    stop: () => child.kill("SIGTERM")
  }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const embedded = await startEmbeddedPostgres({ postgresFlags: ["-c", "shared_preload_libraries=pg_stat_statements"] })
  const admin = new pg.Client({ connectionString: embedded.url })
  await admin.connect()
  const backendPid = Number((await admin.query("SELECT pg_backend_pid() AS pid")).rows[0].pid)
  const postmaster = Number(procStat(backendPid)?.[1])
  const fake = await startFake()
  const results: Array<WindowMeasurement> = []
  try {
    for (const n of sizes) {
      const name = `bench_window_${n}`
      const { databaseUrl, db } = await freshDatabase(admin, embedded.url, name)
      await db.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
      await db.query(createTodosTableSql)
      await db.query(`
        WITH ws AS (SELECT gen_random_uuid() AS id, row_number() OVER () - 1 AS i FROM generate_series(1, ${Math.max(1, n / 100)}))
        INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
        SELECT gen_random_uuid(), 'Todo ' || g, 'Someone', CURRENT_DATE - 1 - (g % 900), ws.id
        FROM generate_series(1, ${n}) AS g JOIN ws ON ws.i = g % ${Math.max(1, n / 100)}`)
      await db.query(`CREATE INDEX todos_due_date ON todos ("dueDate")`)
      const env = { PATH: process.env.PATH, DATABASE_URL: databaseUrl, SERVICES_URL: fake.url, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret, LOG_LEVEL: "warning" }
      execFileSync(process.execPath, ["dist/main.js", "migrate"], { cwd: root, env })
      // Every todo already sent: the steady state of a table whose backlog is done.
      await db.query(`
        INSERT INTO delay_notifications.notifications (workspace_id, todo_id, due_date, state, attempts, next_attempt_at, added_at, updated_at, sent_at)
        SELECT "workspaceId", id, "dueDate", 'sent', 1, now(), now(), now(), now() FROM todos`)
      await db.query("VACUUM ANALYZE todos")
      await db.query("VACUUM ANALYZE delay_notifications.notifications")

      const measure = async (row: WindowMeasurement["row"], args: ReadonlyArray<string>, main = "dist/main.js") => {
        await fake.reset()
        // The blocks the run's own statements hit or read (pg_stat_statements; not autovacuum's).
        const blocks = async () => {
          const r = await db.query(
            "SELECT coalesce(sum(shared_blks_hit + shared_blks_read), 0) AS b FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND query NOT LIKE '%pg_stat_statements%'",
            [name]
          )
          return Number(r.rows[0].b)
        }
        await db.query("SELECT pg_stat_statements_reset()")
        const buffersBefore = await blocks()
        const dbCpuBefore = postgresCpuMicros(postmaster)
        const t0 = performance.now()
        const startedAt = Date.now()
        const child = spawn(process.execPath, ["-r", "./bench/rss.cjs", main, "send-delay-notifications", "--now", ...args], { cwd: root, env, stdio: ["ignore", "ignore", "pipe"] })
        let stderr = ""
        child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
        const exit = await waitForExit(child)
        const wallMs = performance.now() - t0
        const dbCpuMs = (postgresCpuMicros(postmaster) - dbCpuBefore) / 1000
        const buffers = (await blocks()) - buffersBefore
        const stats = await fake.stats()
        const m: WindowMeasurement = {
          n,
          row,
          wallMs,
          jobCpuMs: Number(/BENCH_CPU_US=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1000,
          dbCpuMs,
          buffers,
          sent: stats.notifications,
          firstMs: stats.firstNotificationAt === null ? null : stats.firstNotificationAt - startedAt,
          exit: String(exit.code ?? exit.signal)
        }
        console.log(JSON.stringify(m))
        results.push(m)
      }

      for (let i = 0; i < runs; i++) {
        await measure("full pass", ["--full-pass-every", "0s"])
        if (values.before !== undefined) await measure("full pass, before windows", [], path.join(values.before, "main.js"))
        await measure("window", [])
      }
      if (n === Math.max(...sizes)) {
        for (let i = 0; i < runs; i++) {
          // A run first, so the window's run starts from one just before it.
          await measure("window", [])
          await db.query(`
            INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
            SELECT gen_random_uuid(), 'New ' || g, 'Someone', CURRENT_DATE - 1, (SELECT "workspaceId" FROM todos LIMIT 1 OFFSET g)
            FROM generate_series(1, 1000) AS g`)
          await measure("window, 1,000 new", [])
        }
      }
      await db.end()
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
  } finally {
    fake.stop()
    await admin.end()
    await embedded.stop()
  }
  writeFileSync(path.resolve(root, "bench/results-window.json"), JSON.stringify(results, null, 1))
  console.log(`medians: ${JSON.stringify([...new Set(results.map((r) => `${r.n} ${r.row}`))].map((key) => {
    const rs = results.filter((r) => `${r.n} ${r.row}` === key)
    return { key, wallMs: Math.round(median(rs.map((r) => r.wallMs))), firstMs: median(rs.map((r) => r.firstMs ?? NaN)) }
  }))}`)
}

await main()
