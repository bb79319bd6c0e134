/**
 * The Grafana dashboard of send-delay-notifications, built with Grafana's Foundation SDK (its
 * typed builders) over the job's metrics as Prometheus names them (names.ts), by either way they
 * travel (OTLP through a Collector, or the Pushgateway), and the recording rules of alerts.yaml.
 * A cron run's process starts its counters at 0, so the panels read the per-run gauges: each
 * run's counts, or the newest run's state. `npx tsx deploy/monitoring/dashboard.ts` writes dashboard.json
 * beside it; test/monitoring.test.ts checks the file is what this builds.
 */
import { type Dashboard, DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard"
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus"
import { PanelBuilder as StatBuilder } from "@grafana/grafana-foundation-sdk/stat"
import { PanelBuilder as TimeseriesBuilder } from "@grafana/grafana-foundation-sdk/timeseries"
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { names } from "./names.js"

const query = (expr: string, legend: string) => new DataqueryBuilder().expr(expr).legendFormat(legend)

const timeseries = (title: string, unit: string, ...targets: ReadonlyArray<DataqueryBuilder>) =>
  targets.reduce((panel, target) => panel.withTarget(target), new TimeseriesBuilder().title(title).unit(unit).min(0).height(8).span(12))

const stat = (title: string, unit: string, target: DataqueryBuilder) =>
  new StatBuilder().title(title).unit(unit).height(4).span(6).withTarget(target)

/** Of each job, the series of its newest run (the recording rule of alerts.yaml). */
const newest = (series: string) => `max by (job) (${series} and on (job, instance) delay_notifications:newest_run:end_timestamp_seconds)`

/**
 * The series of every run that ended in the five minutes before each point: each run of a
 * five-minute CronJob once, and every pod of a parallel Job (each its own instance).
 */
const endedLately = (series: string) => `${series} and on (job, instance) (${names.runEnd} > time() - 300)`

export const buildDashboard = (): Dashboard =>
  new DashboardBuilder("Delay notifications")
    .uid("delay-notifications")
    .tags(["delay-notifications"])
    .refresh("1m")
    .time({ from: "now-24h", to: "now" })
    .timezone("browser")
    .withRow(new RowBuilder("Runs"))
    .withPanel(stat("Exit code of the newest run", "none", query("max(delay_notifications:run_exit_code:newest)", "exit code")))
    .withPanel(
      stat(
        "Since the newest run that went through (exit 0 or 3)",
        "s",
        query(`time() - max(max_over_time(${names.runLastSuccess}[3h]))`, "since")
      )
    )
    .withPanel(timeseries("Exit code of the newest run", "none", query("delay_notifications:run_exit_code:newest", "{{job}}")))
    .withRow(new RowBuilder("Notifications"))
    .withPanel(
      timeseries(
        "Sent, failed and dead letters by the runs of the last 5 minutes",
        "short",
        query(`sum by (job) (${endedLately(names.runSent)})`, "sent"),
        query(`sum by (job) (${endedLately(names.runFailed)})`, "failed"),
        query(`sum by (job) (${endedLately(names.runDeadLetters)})`, "dead letters")
      )
    )
    .withRow(new RowBuilder("Backlog"))
    .withPanel(timeseries("Pending todos due now", "short", query(newest(names.backlogPending), "pending")))
    .withPanel(timeseries("Age of the oldest pending todo", "s", query(newest(names.oldestPendingAge), "oldest pending")))
    .withPanel(timeseries("Dead letters in the ledger", "short", query(newest(names.ledgerDeadLetters), "dead letters")))
    .withRow(new RowBuilder("Notify service"))
    .withPanel(
      timeseries(
        "Request latency in the runs of the last 5 minutes",
        "s",
        ...[0.5, 0.95, 0.99].map((q) =>
          query(`histogram_quantile(${q}, sum by (le) (${endedLately(`${names.notifyLatency}_bucket`)}))`, `p${q * 100}`)
        )
      )
    )
    .withPanel(
      timeseries(
        "Throttling and the concurrency limit of the newest run",
        "short",
        query(newest(names.runThrottled), "requests throttled"),
        query(newest(names.concurrencyLimit), "concurrency limit")
      )
    )
    .build()

/** Where the dashboard's JSON is kept. */
export const dashboardFile = path.join(path.dirname(fileURLToPath(import.meta.url)), "dashboard.json")

export const dashboardJson = () => `${JSON.stringify(buildDashboard(), null, 2)}\n`

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(dashboardFile, dashboardJson())
