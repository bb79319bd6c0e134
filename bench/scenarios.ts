/**
 * `tsx bench/scenarios.ts [--only name,...]` (part of `npm run bench`): the timed rows of the
 * scenario suite. Each file of dev/scenarios, at its `benchTodos`, served by
 * dev/fakeNotify/ScenarioServer, with the built CLI at its defaults (plus the file's `args`) on an
 * embedded PostgreSQL; the run held to the file's `targets` (ScenarioCheck), each row met or
 * missed. Writes bench/results-scenarios.json (with --only, replacing the rows it ran) and the
 * table in bench/RESULTS.md between its markers. `--logs DIR` keeps each run's output (with a
 * progress line a second) and the service's timeline (created and refused a second) in DIR.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"
import { startEmbeddedPostgres } from "../dev/embeddedPostgres.js"
import { median, missed, mostInASecond, throughput } from "../dev/fakeNotify/ScenarioCheck.js"
import { readScenario, type ScenarioStats, startScenarioServer } from "../dev/fakeNotify/ScenarioServer.js"
import { capacityOf, workspaceId } from "../dev/fakeNotify/ServiceModel.js"
import { createTodosTableSql } from "../dev/seedTodos.js"
import { scenariosBegin, scenariosEnd, scenariosSection } from "./scenariosTable.js"
import { freshDatabase } from "./support.js"

const { values } = parseArgs({ options: { only: { type: "string" }, logs: { type: "string" } } })
const root = path.resolve(import.meta.dirname, "..")
const folder = path.join(root, "dev/scenarios")
const resultsFile = path.join(root, "bench/results-scenarios.json")
const credentials = { clientId: "bench", clientSecret: "bench-secret" }
const only = values.only?.split(",")
if (values.logs !== undefined) mkdirSync(values.logs, { recursive: true })

export interface Row {
  readonly scenario: string
  readonly description: string
  readonly todos: number
  readonly workspaces: number
  readonly exit: number | null
  readonly perSecond: number
  readonly capacity: number | null
  readonly refusedShare: number
  readonly mostRefusedInASecond: number
  readonly mostInFlight: number
  readonly medianMs: number
  readonly charged: number
  readonly missed: ReadonlyArray<string>
}

const run = (args: ReadonlyArray<string>, env: Record<string, string>, log?: string) =>
  new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ["dist/main.js", ...args], { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, stdio: log === undefined ? "ignore" : "pipe" })
    if (log !== undefined) {
      const lines: Array<string> = []
      child.stdout!.on("data", (chunk: Buffer) => lines.push(chunk.toString()))
      child.stderr!.on("data", (chunk: Buffer) => lines.push(chunk.toString()))
      child.on("close", () => writeFileSync(log, lines.join("")))
    }
    child.on("close", (code) => resolve(code))
  })

// Created and refused in each second of the run (from the first request's second), and how many
// workspaces each fell on.
const timeline = (stats: Pick<ScenarioStats, "createdAt" | "createdOf" | "refusedAt" | "refusedOf">) => {
  const start = Math.min(stats.createdAt[0] ?? Infinity, stats.refusedAt[0] ?? Infinity)
  const seconds = new Map<number, { created: Set<string>; refused: Set<string>; counts: [number, number] }>()
  const count = (at: number, workspace: string, which: "created" | "refused") => {
    const second = Math.floor((at - start) / 1000)
    const entry = seconds.get(second) ?? { created: new Set<string>(), refused: new Set<string>(), counts: [0, 0] }
    seconds.set(second, entry)
    entry[which].add(workspace)
    entry.counts[which === "created" ? 0 : 1]++
  }
  stats.createdAt.forEach((at, i) => count(at, stats.createdOf[i]!, "created"))
  stats.refusedAt.forEach((at, i) => count(at, stats.refusedOf[i]!, "refused"))
  return [...seconds].sort(([a], [b]) => a - b).map(([second, { counts, created, refused }]) =>
    `${second}s created ${counts[0]} of ${created.size} workspaces, refused ${counts[1]} of ${refused.size}`
  ).join("\n")
}

const embedded = await startEmbeddedPostgres()
const admin = new pg.Client({ connectionString: embedded.url })
await admin.connect()
const rows: Array<Row> = []
try {
  for (const file of readdirSync(folder).filter((f) => f.endsWith(".yaml")).sort()) {
    const name = file.replace(/\.yaml$/, "")
    if (only !== undefined && !only.includes(name)) continue
    const scenario = readScenario(path.join(folder, file))
    const todos = scenario.benchTodos ?? scenario.todos
    const { databaseUrl, db } = await freshDatabase(admin, embedded.url, "scenario")
    await db.query(createTodosTableSql)
    // Due over 60 days, each day's todos one per workspace in turn: claimed oldest first, the
    // workspaces come interleaved, as in a real backlog. (All due the same day, the ledger would
    // hand them out one workspace after another.)
    await db.query(
      `INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
       SELECT gen_random_uuid(), 'Todo ' || i, 'Someone', '2022-06-02'::date - ((i / $2) % 60)::int, ($1::uuid[])[1 + i % $2]
       FROM generate_series(0, $3 - 1) AS i`,
      [Array.from({ length: todos.workspaces }, (_, i) => workspaceId(i + 1)), todos.workspaces, todos.count]
    )
    const migrate = await run(["migrate"], { DATABASE_URL: databaseUrl })
    if (migrate !== 0) throw new Error(`migrate exited ${migrate}`)
    const server = await startScenarioServer(scenario, credentials)
    const reportFolder = mkdtempSync(path.join(tmpdir(), "scenario-"))
    const report = path.join(reportFolder, "run.json")
    const logs = values.logs === undefined ? [] : ["--progress", "1s"]
    const exit = await run(["send-delay-notifications", "--at", "2022-06-03", "--report", report, ...logs, ...(scenario.args ?? [])], {
      DATABASE_URL: databaseUrl,
      SERVICES_URL: server.url,
      CLIENT_ID: credentials.clientId,
      CLIENT_SECRET: credentials.clientSecret,
      NOTIFY_RETRY_BASE: "50ms"
    }, values.logs === undefined ? undefined : path.join(values.logs, `${name}.log`))
    const stats = server.stats()
    if (values.logs !== undefined) writeFileSync(path.join(values.logs, `${name}.timeline`), `${timeline(stats)}\n`)
    await server.close()
    const summary = JSON.parse(readFileSync(report, "utf8")) as { sent?: number }
    rmSync(reportFolder, { recursive: true, force: true })
    const charged = Number((await db.query(
      `SELECT COALESCE(SUM(attempts - CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0) AS charged FROM delay_notifications.notifications`
    )).rows[0].charged)
    await db.end()
    const observed = { exit, sent: summary.sent ?? 0, delayed: todos.count, charged, stats }
    const capacity = capacityOf(scenario, todos.workspaces)
    const row: Row = {
      scenario: name,
      description: scenario.description,
      todos: todos.count,
      workspaces: todos.workspaces,
      exit,
      perSecond: Math.round(throughput(scenario, stats)),
      capacity: Number.isFinite(capacity) ? Math.round(capacity) : null,
      refusedShare: stats.requests === 0 ? 0 : stats.refused / stats.requests,
      mostRefusedInASecond: mostInASecond(stats.refusedAt),
      mostInFlight: stats.mostInFlight,
      medianMs: Math.round(median(stats.servedMs.slice(Math.floor(stats.servedMs.length / 4)))),
      charged,
      missed: missed(scenario, scenario.targets ?? scenario.expect, observed, todos.workspaces)
    }
    rows.push(row)
    console.log(`${name}: ${row.missed.length === 0 ? "met" : `missed (${row.missed.join("; ")})`}`)
  }
} finally {
  await admin.end()
  await embedded.stop()
}

const previous: Array<Row> = only !== undefined && existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, "utf8")).rows : []
const all = [...previous.filter((row) => !rows.some((r) => r.scenario === row.scenario)), ...rows].sort((a, b) => a.scenario.localeCompare(b.scenario))
writeFileSync(resultsFile, `${JSON.stringify({ measuredAt: new Date().toISOString(), rows: all }, null, 2)}\n`)

const resultsMd = path.join(root, "bench/RESULTS.md")
const text = readFileSync(resultsMd, "utf8")
const section = scenariosSection(resultsFile)
writeFileSync(
  resultsMd,
  text.includes(scenariosBegin)
    ? text.slice(0, text.indexOf(scenariosBegin)) + section + text.slice(text.indexOf(scenariosEnd) + scenariosEnd.length + 1)
    : text.includes("## A cron run over a large table")
    ? text.replace("## A cron run over a large table", `${section}\n## A cron run over a large table`)
    : `${text.trimEnd()}\n\n${section}`
)
