import { readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import YAML from "yaml"
import { alertsTestFile, alertsTestYaml } from "../deploy/monitoring/alerts.test.js"
import { dashboardFile, dashboardJson } from "../deploy/monitoring/dashboard.js"
import { allSeries, prometheusNameOf, seriesOf } from "../deploy/monitoring/names.js"
import { MetricDeclarations } from "../src/lib/Telemetry.js"
import { anchorsOf } from "./support/docs.js"

const root = path.resolve(import.meta.dirname, "..")
const read = (file: string) => readFileSync(path.join(root, file), "utf8")

/** The job's series a PromQL text names (recording rules' names, with colons, are not among them). */
const seriesIn = (text: string) => [...new Set(text.match(/\bdelay_notifications_[a-z_]+/g) ?? [])]

interface Rule {
  readonly alert?: string
  readonly record?: string
  readonly expr: string
  readonly for?: string
  readonly labels?: Record<string, string>
  readonly annotations?: Record<string, string>
}
const rules = (): ReadonlyArray<Rule> =>
  (YAML.parse(read("deploy/monitoring/alerts.yaml")) as { groups: Array<{ rules: Array<Rule> }> }).groups.flatMap((g) => g.rules)
const alerts = () => rules().filter((rule) => rule.alert !== undefined)

/** A markdown table's rows after `heading` in `text`, as cells. */
const tableAfter = (text: string, heading: string): ReadonlyArray<ReadonlyArray<string>> => {
  const lines = text.slice(text.indexOf(heading)).split("\n")
  const start = lines.findIndex((line) => line.startsWith("| "))
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("| "))
  return lines.slice(start + 2, end).map((line) => line.split("|").slice(1, -1).map((cell) => cell.trim()))
}
const codeIn = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)

describe("the operations kit (deploy/monitoring)", () => {
  it("names by the OpenTelemetry-to-Prometheus rules, checked on the specification's own examples", () => {
    // The examples of the compatibility specification and of the translator's documentation.
    expect(prometheusNameOf("http.server.request.duration", "s", "histogram")).toBe("http_server_request_duration_seconds")
    expect(prometheusNameOf("memory.usage", "By", "gauge")).toBe("memory_usage_bytes")
    expect(prometheusNameOf("requests.count", "1", "counter")).toBe("requests_count_total")
    expect(prometheusNameOf("cpu.utilization", "1", "gauge")).toBe("cpu_utilization_ratio")
    expect(prometheusNameOf("packets", "{packet}", "counter")).toBe("packets_total")
    expect(prometheusNameOf("throughput", "By/s", "gauge")).toBe("throughput_bytes_per_second")
    expect(prometheusNameOf("latency_seconds", "s", "gauge")).toBe("latency_seconds")
    expect(prometheusNameOf("hits_total", "{hit}", "counter")).toBe("hits_total")
    expect(prometheusNameOf("foo..bar__baz", "ms", "updown")).toBe("foo_bar_baz_milliseconds")
    expect(seriesOf("rpc.duration", "ms", "histogram")).toEqual(["rpc_duration_milliseconds_bucket", "rpc_duration_milliseconds_sum", "rpc_duration_milliseconds_count"])
  })

  it("every instrument has a unit of OpenTelemetry's conventions, and none is a ratio: no name gets _ratio", () => {
    for (const { name, unit } of Object.values(MetricDeclarations)) {
      expect(unit, name).toMatch(/^(s|\{[a-z_]+\})$/)
      expect(name.endsWith("seconds"), `${name}: the unit says seconds, not the name`).toBe(false)
    }
    expect([...allSeries()].filter((name) => name.endsWith("_ratio"))).toEqual([])
  })

  it("the dashboard's JSON is what dashboard.ts builds, and the promtool tests what alerts.test.ts writes", () => {
    expect(readFileSync(dashboardFile, "utf8")).toBe(dashboardJson())
    expect(readFileSync(alertsTestFile, "utf8")).toBe(alertsTestYaml())
  })

  it("the rules, the dashboard and the promtool tests read only series the job's metrics are in Prometheus", () => {
    const exported = allSeries()
    for (const file of ["deploy/monitoring/alerts.yaml", "deploy/monitoring/dashboard.json", "deploy/monitoring/alerts.test.yaml"]) {
      const used = seriesIn(read(file))
      expect(used.length, file).toBeGreaterThan(3)
      expect(used.filter((name) => !exported.has(name)), file).toEqual([])
    }
  })

  it("docs/operations.md lists every series as Prometheus names it, and no other", () => {
    const listed = tableAfter(read("docs/operations.md"), "### Metric names in Prometheus").flatMap(([names]) => codeIn(names!))
    expect([...listed].sort()).toEqual([...allSeries()].sort())
  })

  it("every alert: a for:, severity critical or warning, a summary, a description and a runbook row", () => {
    const anchors = anchorsOf(path.join(root, "docs/operations.md"))
    expect(alerts().length).toBe(7)
    for (const rule of alerts()) {
      expect(rule.for, rule.alert).toMatch(/^\d+m$/)
      expect(["critical", "warning"], rule.alert).toContain(rule.labels?.severity)
      expect(rule.annotations?.summary, rule.alert).toBeTruthy()
      expect(rule.annotations?.description, rule.alert).toBeTruthy()
      const [page, anchor] = rule.annotations!.runbook_url!.replace(/^https:\/\/github\.com\/[^/]+\/[^/]+\/blob\/main\//, "").split("#")
      expect(page, rule.alert).toBe("docs/operations.md")
      expect(anchors.has(anchor!), `${rule.alert}: #${anchor}`).toBe(true)
    }
  })

  it("the alerts table of docs/operations.md says each alert's severity, for: and inhibitions as alerts.yaml and alertmanager.yaml have them", () => {
    const inhibitRules = (YAML.parse(read("deploy/monitoring/alertmanager.yaml")) as {
      inhibit_rules: Array<{ source_matchers: Array<string>; target_matchers: Array<string>; equal: Array<string> }>
    }).inhibit_rules
    const matches = (matchers: ReadonlyArray<string>, name: string) =>
      matchers.every((matcher) => {
        const [, op, value] = /^alertname\s*(=~|=)\s*"?([^"]*)"?$/.exec(matcher.trim())!
        return op === "=" ? name === value : new RegExp(`^(?:${value})$`).test(name)
      })
    const names = alerts().map((rule) => rule.alert!)
    const inhibitorsOf = (name: string) =>
      names.filter((source) => inhibitRules.some((r) => matches(r.target_matchers, name) && matches(r.source_matchers, source))).sort()
    const rows = tableAfter(read("docs/operations.md"), "### Alerts")
    expect(rows.map(([alert]) => codeIn(alert!)[0]).sort()).toEqual([...names].sort())
    for (const [alert, severity, , forCell, inhibitedBy] of rows) {
      const name = codeIn(alert!)[0]!
      const rule = alerts().find((r) => r.alert === name)!
      expect(severity, name).toBe(rule.labels!.severity)
      expect(codeIn(forCell!)[0] ?? forCell, name).toBe(rule.for)
      expect(codeIn(inhibitedBy!).sort(), name).toEqual(inhibitorsOf(name))
    }
    for (const rule of inhibitRules) expect(rule.equal).toEqual(["job"])
  })

  it("the CronJob fails its Job on exit 3 as the docs say, and alertmanager.yaml keeps KubeJobFailed quiet for its Jobs only", () => {
    const cronJob = YAML.parse(read("deploy/cronjob.yaml"))
    const failJob = cronJob.spec.jobTemplate.spec.podFailurePolicy.rules.find((r: any) => r.action === "FailJob")
    expect(failJob.onExitCodes.values).toContain(3)
    const route = (YAML.parse(read("deploy/monitoring/alertmanager.yaml")) as any).route.routes[0]
    expect(route.receiver).toBe("null")
    expect(route.matchers).toEqual(["alertname = KubeJobFailed", 'job_name =~ "delay-notifications-.+"'])
    expect(cronJob.metadata.name).toBe("delay-notifications")
  })
})
