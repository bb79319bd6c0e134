/**
 * The scenario suite (after Vector's tests/data/adaptive-concurrency): each file of dev/scenarios
 * is a notify service of the world, served by dev/fakeNotify/ScenarioServer over real HTTP; the
 * built job runs against it at its defaults (plus the file's `args`) over a real PostgreSQL, in
 * real time, and the run is held to the file's `expect` band. The expected values come from the
 * scenario (its workers, its limits: ServiceModel.capacityOf), never from the job. The same files,
 * at their `benchTodos`, are the benchmark's rows (bench/scenarios.ts), held to `targets`.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { type Scenario, workspaceId } from "../../dev/fakeNotify/ServiceModel.js"
import { missed, type Observed } from "../../dev/fakeNotify/ScenarioCheck.js"
import { readScenario, type ScenarioStats, startScenarioServer } from "../../dev/fakeNotify/ScenarioServer.js"
import { createTodosTable, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { runBuilt } from "../support/process.js"

const folder = path.resolve(import.meta.dirname, "../../dev/scenarios")
const files = readdirSync(folder).filter((file) => file.endsWith(".yaml")).sort()
const credentials = { clientId: "scenario", clientSecret: "scenario-secret-3391" }

/** `count` todos due over the 60 days before 2022-06-03, spread evenly over workspaces 1..`workspaces` and interleaved in due order (as a real backlog is: see bench/scenarios.ts). */
const insertTodos = (count: number, workspaces: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ids = Array.from({ length: workspaces }, (_, i) => workspaceId(i + 1))
    yield* sql`
      INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
      SELECT gen_random_uuid(), 'Todo ' || i, 'Someone', '2022-06-02'::date - ((i / ${workspaces}) % 60)::int, (${ids}::uuid[])[1 + i % ${workspaces}]
      FROM generate_series(0, ${count - 1}) AS i
    `
  })

/** Created and refused, second by second: what a failure shows. */
const timeline = (stats: ScenarioStats) => {
  const start = Math.min(stats.createdAt[0] ?? Infinity, stats.refusedAt[0] ?? Infinity)
  const seconds = new Map<number, [number, number]>()
  for (const t of stats.createdAt) (seconds.get(Math.floor((t - start) / 1000)) ?? seconds.set(Math.floor((t - start) / 1000), [0, 0]).get(Math.floor((t - start) / 1000))!)[0]++
  for (const t of stats.refusedAt) (seconds.get(Math.floor((t - start) / 1000)) ?? seconds.set(Math.floor((t - start) / 1000), [0, 0]).get(Math.floor((t - start) / 1000))!)[1]++
  return [...seconds].sort(([a], [b]) => a - b).map(([s, [c, r]]) => `${s}s: ${c} created, ${r} refused`).join("; ")
}

/** Runs `scenario` at `todos` with the built job on the test database; what it did. */
export const runScenario = (scenario: Scenario, todos: { readonly count: number; readonly workspaces: number }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* createTodosTable
    yield* insertTodos(todos.count, todos.workspaces)
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startScenarioServer(scenario, credentials)),
      (s) => Effect.promise(() => s.close())
    )
    const scratch = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(path.join(tmpdir(), "scenario-"))),
      (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
    )
    const report = path.join(scratch, "run.json")
    const databaseUrl = yield* TestDatabaseUrl
    const result = yield* Effect.promise(() =>
      runBuilt(["send-delay-notifications", "--at", "2022-06-03", "--report", report, ...(scenario.args ?? [])], {
        // Another build of the job, to compare (SCENARIO_MAIN=path/to/dist/main.js).
        ...(process.env.SCENARIO_MAIN === undefined ? {} : { main: process.env.SCENARIO_MAIN }),
        env: {
          DATABASE_URL: databaseUrl,
          SERVICES_URL: server.url,
          CLIENT_ID: credentials.clientId,
          CLIENT_SECRET: credentials.clientSecret,
          // Retries within a send wait less than their defaults: a down service is found sooner.
          NOTIFY_RETRY_BASE: "50ms"
        }
      })
    )
    const summary = JSON.parse(readFileSync(report, "utf8")) as { delayed?: number; sent?: number }
    // Attempts that failed: every try counted, less the one that sent each sent todo.
    const [{ charged }] = yield* sql<{ charged: number }>`
      SELECT COALESCE(SUM(attempts - CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0)::int AS charged
      FROM delay_notifications.notifications`
    return {
      observed: { exit: result.code, sent: summary.sent ?? 0, delayed: todos.count, charged, stats: server.stats() } satisfies Observed,
      output: result.stdout + result.stderr
    }
  })

describe("the client against the notify services of the world (dev/scenarios)", () => {
  it("every scenario names what it is and the band it is held to", () => {
    expect(files.length).toBeGreaterThanOrEqual(20)
    for (const file of files) {
      const scenario = readScenario(path.join(folder, file))
      expect(scenario.description, file).toBeTruthy()
      expect(scenario.expect.exit, file).toBeDefined()
      expect(scenario.targets, file).toBeDefined()
    }
  })

  it.layer(TestDatabaseLive)((it) => {
    for (const file of files) {
      const scenario = readScenario(path.join(folder, file))
      it.scoped(`${file}: ${scenario.description}`, () =>
        Effect.gen(function*() {
          const { observed, output } = yield* runScenario(scenario, scenario.todos)
          const failures = missed(scenario, scenario.expect, observed, scenario.todos.workspaces)
          expect(failures, failures.length === 0 ? "" : timeline(observed.stats) + "\n" + output.split("\n").slice(-3).join("\n")).toEqual([])
        }), { timeout: 300_000 })
    }
  })
})
