/**
 * The Grafana dashboard of send-delay-notifications, built with Grafana's Foundation SDK (its
 * typed builders) over the metric names an OpenTelemetry Collector's Prometheus exporter writes
 * from the job's OTLP metrics. `npx tsx deploy/monitoring/dashboard.ts` writes dashboard.json
 * beside it; test/monitoring.test.ts checks the file is what this builds.
 */
import { type Dashboard, DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard"
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus"
import { PanelBuilder as StatBuilder } from "@grafana/grafana-foundation-sdk/stat"
import { PanelBuilder as TimeseriesBuilder } from "@grafana/grafana-foundation-sdk/timeseries"
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const query = (expr: string, legend: string) => new DataqueryBuilder().expr(expr).legendFormat(legend)

const timeseries = (title: string, unit: string, ...targets: ReadonlyArray<DataqueryBuilder>) =>
  targets.reduce((panel, target) => panel.withTarget(target), new TimeseriesBuilder().title(title).unit(unit).min(0).height(8).span(12))

const stat = (title: string, unit: string, target: DataqueryBuilder) =>
  new StatBuilder().title(title).unit(unit).height(4).span(6).withTarget(target)

export const buildDashboard = (): Dashboard =>
  new DashboardBuilder("Delay notifications")
    .uid("delay-notifications")
    .tags(["delay-notifications"])
    .refresh("1m")
    .time({ from: "now-24h", to: "now" })
    .timezone("browser")
    .withRow(new RowBuilder("Runs"))
    .withPanel(stat("Exit code of the last run", "none", query("max(delay_notifications_run_exit_code)", "exit code")))
    .withPanel(
      stat(
        "Since the last run that went through",
        "s",
        query("time() - max(delay_notifications_run_last_success_timestamp_seconds)", "since")
      )
    )
    .withPanel(timeseries("Exit code of each run", "none", query("max(delay_notifications_run_exit_code)", "exit code")))
    .withRow(new RowBuilder("Notifications"))
    .withPanel(
      timeseries(
        "Sent, failed and dead letters per 5 minutes",
        "short",
        query("sum(increase(delay_notifications_sent_total[5m]))", "sent"),
        query("sum(increase(delay_notifications_failed_total[5m]))", "failed"),
        query("sum(increase(delay_notifications_dead_letters_total[5m]))", "dead letters")
      )
    )
    .withRow(new RowBuilder("Backlog"))
    .withPanel(timeseries("Pending todos due now", "short", query("max(delay_notifications_backlog_pending)", "pending")))
    .withPanel(
      timeseries("Age of the oldest pending todo", "s", query("max(delay_notifications_backlog_oldest_pending_age_seconds)", "oldest pending"))
    )
    .withPanel(timeseries("Dead letters in the ledger", "short", query("max(delay_notifications_ledger_dead_letters)", "dead letters")))
    .withRow(new RowBuilder("Notify service"))
    .withPanel(
      timeseries(
        "Request latency",
        "ms",
        ...[0.5, 0.95, 0.99].map((q) =>
          query(`histogram_quantile(${q}, sum by (le) (rate(delay_notifications_notify_duration_bucket[5m])))`, `p${q * 100}`)
        )
      )
    )
    .withPanel(
      timeseries(
        "Throttling and the concurrency limit",
        "short",
        query("max(delay_notifications_run_throttled)", "requests throttled in the last run"),
        query("max(delay_notifications_concurrency_limit)", "concurrency limit")
      )
    )
    .build()

/** Where the dashboard's JSON is kept. */
export const dashboardFile = path.join(path.dirname(fileURLToPath(import.meta.url)), "dashboard.json")

export const dashboardJson = () => `${JSON.stringify(buildDashboard(), null, 2)}\n`

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(dashboardFile, dashboardJson())
