/**
 * The operations kit on real Prometheus parts (`npm run test:alerting`; Debian's prometheus,
 * prometheus-pushgateway and prometheus-alertmanager): the built job runs into each case of
 * docs/operations.md's table "What fires for what" and pushes its metrics to a real Pushgateway.
 * - A Prometheus with deploy/monitoring/alerts.yaml as shipped: the alerts the table names are
 *   active (pending until their `for:`, which promtool's tests time), and no other.
 * - A Prometheus with the same rules but every `for:` at 0, sending to an Alertmanager with
 *   deploy/monitoring/alertmanager.yaml: the same alerts fire, and what is not inhibited is what
 *   the table says reaches the on-call.
 * - The dashboard's every query returns data from the same Prometheus.
 * - The series the job pushed are those the translation's rules name (deploy/monitoring/names.ts).
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import YAML from "yaml"
import { buildDashboard } from "../../deploy/monitoring/dashboard.js"
import { allSeries } from "../../deploy/monitoring/names.js"
import { insertDelayedTodos, seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv, shortSends } from "../support/notify.js"
import { alertmanagerAlerts, getJson, startAlertmanager, startPrometheus, startPushgateway } from "../support/prometheusParts.js"
import { runBuilt } from "../support/process.js"
import { waitUntil } from "../support/TestApp.js"

const root = path.resolve(import.meta.dirname, "../..")
const shippedRules = readFileSync(path.join(root, "deploy/monitoring/alerts.yaml"), "utf8")

/** The shipped rules with every `for:` at 0: each alert fires as soon as its expression holds. */
const rulesFiringAtOnce = () => {
  const rules = YAML.parse(shippedRules) as { groups: Array<{ rules: Array<Record<string, unknown>> }> }
  for (const group of rules.groups) for (const rule of group.rules) if ("for" in rule) rule.for = "0s"
  return YAML.stringify(rules)
}

/** docs/operations.md's table "What fires for what": each row's case, the alerts it makes active, and those that reach the on-call. */
const table = (): ReadonlyArray<{ what: string; exit: string; active: ReadonlyArray<string>; reaches: ReadonlyArray<string> }> => {
  const text = readFileSync(path.join(root, "docs/operations.md"), "utf8")
  const lines = text.slice(text.indexOf("### What fires for what")).split("\n")
  const start = lines.findIndex((line) => line.startsWith("| "))
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("| "))
  const alertsIn = (cell: string) => [...cell.matchAll(/`(DelayNotifications\w+)`/g)].map((m) => m[1]!).sort()
  return lines.slice(start + 2, end).map((row) => {
    const [what, exit, active, reaches] = row.split("|").slice(1, -1).map((cell) => cell.trim())
    return { what: what!, exit: exit!, active: alertsIn(active!), reaches: alertsIn(reaches!) }
  })
}

const today = () => new Date().toISOString().slice(0, 10)
const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10)

/** `count` todos due on `dueDate` in one new workspace; their ids. */
const addTodos = (count: number, dueDate: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* insertDelayedTodos(count, 1, dueDate)
    const rows = yield* sql<{ id: string }>`SELECT id::text AS id FROM todos WHERE "dueDate" = ${dueDate}::date`
    return rows.map((row) => row.id)
  })

interface Stack {
  readonly pushgatewayUrl: string
  readonly env: Record<string, string>
}

/** Runs the built job with `args` against the stack's Pushgateway; its exit code. */
const job = (stack: Stack, args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.map(
    Effect.promise(() => runBuilt(args, { env: { ...stack.env, ...env } })),
    (result) => ({ code: result.code ?? undefined, output: result.stdout + result.stderr })
  )

const send = ["send-delay-notifications", "--now"]

/**
 * Each case of the table: what it does after a healthy run (the todos of dev/seedTodos, all sent)
 * has been scraped; the exit code its run ends with. "no run has ever reported" runs nothing.
 */
const cases: Record<string, (stack: Stack) => Effect.Effect<number | undefined, unknown, SqlClient.SqlClient>> = {
  "a healthy run": (stack) =>
    Effect.gen(function*() {
      yield* addTodos(3, today())
      const fake = yield* serveFakeNotifyLive()
      return (yield* job(stack, send, servicesEnv(fake.url))).code
    }).pipe(Effect.scoped),
  "no run has ever reported": () => Effect.succeed(undefined),
  "a run with dead letters": (stack) =>
    Effect.gen(function*() {
      const ids = yield* addTodos(3, today())
      const fake = yield* serveFakeNotifyLive({ failTodos: ids.slice(0, 2), failStatus: 422 })
      return (yield* job(stack, [...send, "--max-attempts", "1"], servicesEnv(fake.url))).code
    }).pipe(Effect.scoped),
  "a todo due days ago keeps failing": (stack) =>
    Effect.gen(function*() {
      const ids = yield* addTodos(2, daysAgo(3))
      const fake = yield* serveFakeNotifyLive({ failTodos: ids.slice(0, 1), failStatus: 500 })
      return (yield* job(stack, send, { ...servicesEnv(fake.url), ...shortSends })).code
    }).pipe(Effect.scoped),
  "the notify service throttles the job": (stack) =>
    Effect.gen(function*() {
      yield* addTodos(6, today())
      const fake = yield* serveFakeNotifyLive({ limitPerSecond: 3, retryAfterSeconds: 1 })
      return (yield* job(stack, send, servicesEnv(fake.url))).code
    }).pipe(Effect.scoped),
  "the notify service is down": (stack) =>
    Effect.gen(function*() {
      yield* addTodos(5, today())
      const fake = yield* serveFakeNotifyLive({ failEvery: 1, failStatus: 500 })
      return (yield* job(stack, [...send, "--outage-after", "2"], { ...servicesEnv(fake.url), ...shortSends })).code
    }).pipe(Effect.scoped),
  "the auth service refuses the credentials": (stack) =>
    Effect.gen(function*() {
      yield* addTodos(2, today())
      const fake = yield* serveFakeNotifyLive({ clientSecret: "rotated-secret-7710" })
      return (yield* job(stack, send, servicesEnv(fake.url))).code
    }).pipe(Effect.scoped),
  "the database refuses connections": (stack) =>
    // The CronJob's init container meets it first; its run never starts.
    Effect.map(job(stack, ["migrate"], { DATABASE_URL: "postgres://job:secret-5831@127.0.0.1:1/todos" }), (r) => r.code)
}

describe("alerts that fire: the job, a Pushgateway, Prometheus and Alertmanager", () => {
  it("the table names every case this test runs, and every alert of alerts.yaml fires in at least one", () => {
    const rows = table()
    expect(rows.map((row) => row.what).sort()).toEqual(Object.keys(cases).sort())
    const alerts = (YAML.parse(shippedRules).groups as Array<{ rules: Array<{ alert?: string }> }>)
      .flatMap((group) => group.rules.flatMap((rule) => (rule.alert === undefined ? [] : [rule.alert])))
    expect([...new Set(rows.flatMap((row) => row.active))].sort()).toEqual([...alerts].sort())
  })

  it.layer(TestDatabaseLive)((it) => {
    for (const row of table()) {
      it.scoped(`${row.what}: ${row.active.length === 0 ? "no alert" : row.active.join(", ")}`, () =>
        Effect.gen(function*() {
          yield* seedDatabase
          const pushgatewayUrl = yield* startPushgateway
          const stack: Stack = { pushgatewayUrl, env: { DATABASE_URL: yield* TestDatabaseUrl, PUSHGATEWAY_URL: pushgatewayUrl } }
          const caseRun = cases[row.what]!
          if (row.what !== "no run has ever reported") {
            // A healthy run first: its push is there before Prometheus starts.
            const fake = yield* serveFakeNotifyLive()
            expect((yield* job(stack, send, servicesEnv(fake.url))).code).toBe(0)
          }
          const alertmanager = yield* startAlertmanager(path.join(root, "deploy/monitoring/alertmanager.yaml"))
          const shipped = yield* startPrometheus({ pushgateway: pushgatewayUrl, rules: shippedRules })
          const atOnce = yield* startPrometheus({ pushgateway: pushgatewayUrl, rules: rulesFiringAtOnce(), alertmanager })
          for (const prometheus of [shipped, atOnce]) {
            if (row.what !== "no run has ever reported") {
              yield* waitUntil(Effect.map(prometheus.query("delay_notifications:run_exit_code:newest"), (r) => r.length > 0), 30_000)
            }
          }
          const pushedAt = Date.now() / 1000
          const code = yield* Effect.orDie(caseRun(stack))
          expect(String(code ?? "—")).toBe(row.exit)
          // Prometheus has scraped what the run pushed, then evaluated every rule on it.
          for (const prometheus of [shipped, atOnce]) {
            if (code !== undefined) {
              yield* waitUntil(
                Effect.map(
                  prometheus.query("max(delay_notifications:newest_run:end_timestamp_seconds)"),
                  (r) => r.length > 0 && Number(r[0]!.value[1]) >= Math.floor(pushedAt)
                ),
                30_000
              )
            }
            yield* prometheus.evaluatedAgain
          }

          const active = (yield* shipped.alerts).map((alert) => alert.labels.alertname!).sort()
          expect(active, "active on the shipped rules").toEqual(row.active)
          const firing = (yield* atOnce.alerts).filter((a) => a.state === "firing").map((a) => a.labels.alertname!).sort()
          expect(firing, "firing with every for: at 0").toEqual(row.active)
          // Alertmanager has every alert that fires, and holds back the inhibited ones.
          yield* waitUntil(
            Effect.map(alertmanagerAlerts(alertmanager), (alerts) => row.active.every((name) => alerts.some((a) => a.name === name))),
            30_000
          )
          const received = yield* alertmanagerAlerts(alertmanager)
          expect(received.filter((a) => a.state === "active").map((a) => a.name).sort(), "what reaches the on-call").toEqual(row.reaches)
          expect(received.filter((a) => a.state === "suppressed").every((a) => a.inhibitedBy.length > 0)).toBe(true)

          if (code === undefined) return
          // What Prometheus scraped of the job's push is named as the translation's rules name it.
          const scraped = (yield* getJson(`${shipped.url}/api/v1/label/__name__/values`)).data as ReadonlyArray<string>
          const names = scraped.filter((name) => name.startsWith("delay_notifications_"))
          expect(names).toContain("delay_notifications_run_exit_code")
          expect(names.filter((name) => !allSeries().has(name))).toEqual([])
          if (row.what === "a run with dead letters") {
            // Every query of the dashboard returns data from this Prometheus.
            const queries = buildDashboard().panels!.flatMap((panel: any) => (panel.targets ?? []).map((target: any) => target.expr as string))
            expect(queries.length).toBeGreaterThan(10)
            for (const expr of queries) expect((yield* atOnce.query(expr)).length, expr).toBeGreaterThan(0)
          }
        }), { timeout: 120_000 })
    }
  })
})
