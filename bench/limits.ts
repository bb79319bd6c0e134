/**
 * `npm run bench` (after bench/run.ts), or `tsx bench/limits.ts [--runs 3] [--only name,...]`: the
 * built CLI against notify services with limits they do not publish (bench/cheap-notify.mjs's
 * /__fake/limits): at its defaults, and at the best fixed setting found by hand. 20,000 todos over
 * 100 workspaces, 10,000 of them delayed, the fake answering after 20 ms, as the issue measured.
 * Also --rate against a service without limits, and opaque tokens that expire every 2 s. Writes
 * bench/results-limits.json (with --only, replacing the scenarios it ran); bench/run.ts renders it
 * into RESULTS.md.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"
import { startEmbeddedPostgres } from "../dev/embeddedPostgres.js"
import { createTodosTableSql, insertBacklogSql } from "../dev/seedTodos.js"
import { freshDatabase, spawnCheapFake } from "./support.js"

const { values } = parseArgs({
  options: { runs: { type: "string", default: "3" }, only: { type: "string" } }
})
const runs = Number(values.runs)
const root = path.resolve(import.meta.dirname, "..")
const clientId = "bench"
const clientSecret = "bench-secret"
const reference = "2022-06-03"

interface Limits {
  readonly inFlight?: number
  readonly rate?: number
  readonly dropAfterMs?: number
  readonly dropInFlightTo?: number
  readonly dropRateTo?: number
  readonly tokenSeconds?: number
}

interface Stats {
  readonly notifications: number
  readonly uniqueMessages: number
  readonly requests: number
  readonly throttled: number
  readonly unauthorized: number
  readonly tokenRequests: number
  readonly mostInASecond: number
  readonly firstNotificationAt: number | null
  readonly lastRequestAt: number | null
  readonly dropAt: number | null
  readonly throttledAt: ReadonlyArray<number>
  readonly cpuMicros: number
}

/** One scenario: the fake's limits, the todos, and the settings the job runs with. */
interface Scenario {
  readonly name: string
  readonly limits: Limits
  readonly latency: number
  readonly todos: "20k/100" | "100k/1000" | "6k/3"
  readonly settings: ReadonlyArray<{ readonly label: string; readonly args: ReadonlyArray<string> }>
  /** Stop the job after this long (a --rate run over a backlog longer than the measurement). */
  readonly stopAfterMs?: number
}

const defaults = { label: "defaults", args: [] }
const fixed = (n: number) => ({ label: `--concurrency ${n} --fixed-concurrency`, args: ["--concurrency", String(n), "--fixed-concurrency"] })
const scenarios: ReadonlyArray<Scenario> = [
  { name: "in-flight 16", limits: { inFlight: 16 }, latency: 20, todos: "20k/100", settings: [defaults, fixed(16)] },
  {
    name: "in-flight 32, then 8",
    limits: { inFlight: 32, dropAfterMs: 6000, dropInFlightTo: 8 },
    latency: 20,
    todos: "20k/100",
    settings: [defaults, fixed(8)]
  },
  { name: "500/s", limits: { rate: 500 }, latency: 20, todos: "20k/100", settings: [defaults, fixed(10), { label: "--rate 500", args: ["--rate", "500"] }] },
  {
    name: "1,000/s, then 500/s",
    limits: { rate: 1000, dropAfterMs: 4000, dropRateTo: 500 },
    latency: 20,
    todos: "20k/100",
    settings: [defaults, fixed(10), { label: "--rate 500", args: ["--rate", "500"] }]
  },
  { name: "no limit, L = 0", limits: {}, latency: 0, todos: "100k/1000", settings: [defaults, fixed(64)] },
  { name: "no limit, L = 20 ms", limits: {}, latency: 20, todos: "100k/1000", settings: [defaults, fixed(64)] },
  ...[200, 450, 1000, 2000].map((rate): Scenario => ({
    name: `--rate ${rate}, no limit`,
    limits: {},
    latency: 20,
    todos: "100k/1000",
    settings: [{ label: `--rate ${rate}`, args: ["--rate", String(rate)] }],
    stopAfterMs: 22_000
  })),
  { name: "opaque tokens of 2 s", limits: { tokenSeconds: 2 }, latency: 20, todos: "6k/3", settings: [defaults] }
]

const waitForExit = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })))

const startFake = async (latency: number) => {
  const { child, url } = await spawnCheapFake(latency, clientId, clientSecret)
  const post = (what: string, body?: unknown) =>
    fetch(`${url}/__fake/${what}`, { method: "POST", ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  return {
    url,
    reset: () => post("reset"),
    limit: (limits: Limits) => post("limits", limits),
    stats: async () => (await (await fetch(`${url}/__fake/stats`)).json()) as Stats,
    stop: () => child.kill("SIGTERM")
  }
}

/** The time from the drop to the last 429 of the burst that follows it (a gap of 500 ms ends a burst). */
const followMs = (stats: Stats): number | undefined => {
  if (stats.dropAt === null) return undefined
  const after = stats.throttledAt.filter((at) => at >= stats.dropAt!)
  if (after.length === 0) return 0
  let last = after[0]!
  for (const at of after.slice(1)) {
    if (at - last >= 500) break
    last = at
  }
  return last - stats.dropAt
}

export interface LimitsMeasurement {
  readonly scenario: string
  readonly setting: string
  readonly wallMs: number
  readonly perSecond: number
  readonly throttledShare: number
  readonly exit: string
  readonly sent: number
  readonly of: number
  readonly followMs: number | undefined
  readonly mostInASecond: number
  readonly unauthorized: number
  readonly tokenRequests: number
  readonly cpuUs: number
}

const main = async () => {
  const embedded = await startEmbeddedPostgres()
  const admin = new pg.Client({ connectionString: embedded.url })
  await admin.connect()
  const results: Array<LimitsMeasurement> = []
  const fakes = new Map<number, Awaited<ReturnType<typeof startFake>>>()
  const chosen = values.only?.split(",") ?? undefined
  try {
    for (const todos of ["20k/100", "100k/1000", "6k/3"] as const) {
      const here = scenarios.filter((s) => s.todos === todos && (chosen === undefined || chosen.some((c) => s.name.includes(c))))
      if (here.length === 0) continue
      const [n, workspaces] = todos === "20k/100" ? [20_000, 100] : todos === "100k/1000" ? [100_000, 1000] : [6000, 3]
      const name = `limits_${n}_${workspaces}`
      const { databaseUrl, db } = await freshDatabase(admin, embedded.url, name)
      await db.query(createTodosTableSql)
      await db.query(insertBacklogSql(n, workspaces))
      await db.query("ANALYZE todos")
      execFileSync(process.execPath, ["dist/main.js", "migrate"], { cwd: root, env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "error" } })
      for (const scenario of here) {
        const fake = fakes.get(scenario.latency) ?? await startFake(scenario.latency)
        fakes.set(scenario.latency, fake)
        for (let run = 0; run < runs; run++) {
          for (const setting of scenario.settings) {
            await db.query("TRUNCATE delay_notifications.notifications, delay_notifications.batches")
            await db.query("CHECKPOINT")
            await fake.reset()
            await fake.limit(scenario.limits)
            const t0 = performance.now()
            const child = spawn(process.execPath, ["-r", "./bench/rss.cjs", "dist/main.js", "send-delay-notifications", "--at", reference, ...setting.args], {
              cwd: root,
              env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, SERVICES_URL: fake.url, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret, LOG_LEVEL: "warning" },
              stdio: ["ignore", "ignore", "pipe"]
            })
            let stderr = ""
            child.stderr!.on("data", (chunk) => (stderr += chunk))
            const stop = scenario.stopAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGTERM"), scenario.stopAfterMs)
            const exit = await waitForExit(child)
            clearTimeout(stop)
            const wallMs = performance.now() - t0
            const stats = await fake.stats()
            // A stopped --rate run: its rate over what it sent, from the first request to the last.
            const span = scenario.stopAfterMs === undefined || stats.firstNotificationAt === null
              ? wallMs
              : (stats.lastRequestAt ?? 0) - stats.firstNotificationAt
            const measurement: LimitsMeasurement = {
              scenario: scenario.name,
              setting: setting.label,
              wallMs,
              perSecond: stats.uniqueMessages / (span / 1000),
              throttledShare: stats.throttled / Math.max(1, stats.requests),
              exit: exit.signal ?? String(exit.code),
              sent: stats.uniqueMessages,
              of: n / 2,
              followMs: followMs(stats),
              mostInASecond: stats.mostInASecond,
              unauthorized: stats.unauthorized,
              tokenRequests: stats.tokenRequests,
              cpuUs: Number(/BENCH_CPU_US=(\d+)/.exec(stderr)?.[1] ?? NaN) / Math.max(1, stats.uniqueMessages)
            }
            results.push(measurement)
            console.log(JSON.stringify(measurement))
          }
        }
      }
      await db.end()
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
    // With --only, the scenarios run replace theirs in the last results; without, all are new.
    const file = path.resolve(root, "bench/results-limits.json")
    const kept = chosen === undefined || !existsSync(file)
      ? []
      : (JSON.parse(readFileSync(file, "utf8")) as Array<LimitsMeasurement>).filter((m) => !results.some((r) => r.scenario === m.scenario))
    writeFileSync(file, JSON.stringify([...kept, ...results], null, 1))
  } finally {
    for (const fake of fakes.values()) fake.stop()
    await admin.end()
    await embedded.stop()
  }
}

await main()
