/**
 * Real Prometheus parts for the alerting tests, Debian's packages run as they ship: a
 * Pushgateway, Prometheus servers that scrape it (honor_labels, as its documentation asks) with
 * the rules given, and an Alertmanager. Each on a free port of 127.0.0.1, with its data in a
 * temporary folder, stopped with the scope.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import YAML from "yaml"
import { waitUntil } from "./TestApp.js"

/** A port nobody listens on now. */
const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(path.join(tmpdir(), "alerting-"))),
  (folder) => Effect.sync(() => rmSync(folder, { recursive: true, force: true }))
)

/** GET `url` as JSON, or undefined while it does not answer. */
export const getJson = (url: string) =>
  Effect.promise(async (): Promise<any> => {
    try {
      const response = await fetch(url)
      return response.ok ? await response.json() : undefined
    } catch {
      return undefined
    }
  })

const ready = (url: string) =>
  Effect.promise(async () => {
    try {
      return (await fetch(url)).ok
    } catch {
      return false
    }
  })

/** Starts `command` until the scope ends; ready once `readyUrl` answers 200. */
const serve = (command: string, args: ReadonlyArray<string>, readyUrl: string) =>
  Effect.gen(function*() {
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const started: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] })
        started.stdout!.on("data", (chunk) => (output += chunk))
        started.stderr!.on("data", (chunk) => (output += chunk))
        return started
      }),
      (started) =>
        Effect.async<void>((resume) => {
          if (started.exitCode !== null) return resume(Effect.void)
          started.on("exit", () => resume(Effect.void))
          started.kill("SIGTERM")
        })
    )
    yield* waitUntil(
      Effect.flatMap(ready(readyUrl), (isReady) => {
        if (!isReady && child.exitCode !== null) return Effect.dieMessage(`${command} exited ${child.exitCode}:\n${output}`)
        return Effect.succeed(isReady)
      }),
      30_000
    )
  })

/** A Pushgateway; its URL. */
export const startPushgateway = Effect.gen(function*() {
  const port = yield* freePort
  const folder = yield* scratch
  const url = `http://127.0.0.1:${port}`
  // Debian's build keeps what was pushed in /var/lib/prometheus by default: each test starts empty.
  yield* serve("prometheus-pushgateway", [
    `--web.listen-address=127.0.0.1:${port}`,
    `--persistence.file=${path.join(folder, "pushgateway.data")}`
  ], `${url}/-/ready`)
  return url
})

/** An Alertmanager with `configFile`; its URL. */
export const startAlertmanager = (configFile: string) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const folder = yield* scratch
    const url = `http://127.0.0.1:${port}`
    yield* serve("prometheus-alertmanager", [
      `--config.file=${configFile}`,
      `--storage.path=${folder}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address="
    ], `${url}/-/ready`)
    return url
  })

export interface Prometheus {
  readonly url: string
  /** An instant query's result (the `data.result` of /api/v1/query). */
  readonly query: (expr: string) => Effect.Effect<ReadonlyArray<{ metric: Record<string, string>; value: [number, string] }>>
  /** The alerts as Prometheus holds them now (/api/v1/alerts). */
  readonly alerts: Effect.Effect<ReadonlyArray<{ labels: Record<string, string>; state: "pending" | "firing" }>>
  /** Waits until every rule group has been evaluated again after this call began. */
  readonly evaluatedAgain: Effect.Effect<void>
}

/**
 * A Prometheus that scrapes `pushgateway` every second and evaluates `rules` (the text of a rules
 * file) every second, sending its alerts to `alertmanager` when given.
 */
export const startPrometheus = (options: { readonly pushgateway: string; readonly rules: string; readonly alertmanager?: string }) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const folder = yield* scratch
    const url = `http://127.0.0.1:${port}`
    writeFileSync(path.join(folder, "rules.yaml"), options.rules)
    writeFileSync(
      path.join(folder, "prometheus.yaml"),
      YAML.stringify({
        global: { scrape_interval: "1s", evaluation_interval: "1s" },
        rule_files: [path.join(folder, "rules.yaml")],
        scrape_configs: [{ job_name: "pushgateway", honor_labels: true, static_configs: [{ targets: [new URL(options.pushgateway).host] }] }],
        ...(options.alertmanager === undefined
          ? {}
          : { alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(options.alertmanager).host] }] }] } })
      })
    )
    yield* serve("prometheus", [
      `--config.file=${path.join(folder, "prometheus.yaml")}`,
      `--storage.tsdb.path=${path.join(folder, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Alerts that fired before the Alertmanager was discovered are sent again a second later,
      // not a minute.
      "--rules.alert.resend-delay=1s"
    ], `${url}/-/ready`)
    const query = (expr: string) =>
      Effect.map(getJson(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`), (body) => body?.data?.result ?? [])
    const lastEvaluations = Effect.map(
      getJson(`${url}/api/v1/rules`),
      (body): ReadonlyArray<number> => (body?.data?.groups ?? []).map((group: any) => Date.parse(group.lastEvaluation))
    )
    const prometheus: Prometheus = {
      url,
      query,
      alerts: Effect.map(getJson(`${url}/api/v1/alerts`), (body) => body?.data?.alerts ?? []),
      evaluatedAgain: Effect.gen(function*() {
        const since = Date.now()
        yield* waitUntil(Effect.map(lastEvaluations, (times) => times.length > 0 && times.every((t) => t > since)), 30_000)
      })
    }
    return prometheus
  })

/** Alertmanager's alerts now, by name: `active`, or `suppressed` (inhibited or silenced), resolved ones left out. */
export const alertmanagerAlerts = (url: string) =>
  Effect.map(getJson(`${url}/api/v2/alerts`), (alerts): ReadonlyArray<{ name: string; state: string; inhibitedBy: ReadonlyArray<string> }> =>
    (alerts ?? [])
      .filter((alert: any) => Date.parse(alert.endsAt) > Date.now())
      .map((alert: any) => ({ name: alert.labels.alertname, state: alert.status.state, inhibitedBy: alert.status.inhibitedBy ?? [] })))
