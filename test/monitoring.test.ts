import { readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import YAML from "yaml"
import { dashboardFile, dashboardJson } from "../deploy/monitoring/dashboard.js"
import { Metrics } from "../src/lib/Telemetry.js"
import { anchorsOf } from "./support/docs.js"

const root = path.resolve(import.meta.dirname, "..")
const alertsFile = path.join(root, "deploy/monitoring/alerts.yaml")

/**
 * The names the job's metrics (declared in src/lib/Telemetry.ts) take in Prometheus through an
 * OpenTelemetry Collector's exporter: dots become underscores, counters end in _total, a
 * histogram is its _bucket, _sum and _count.
 */
const exportedNames = (): ReadonlySet<string> => {
  const source = readFileSync(path.join(root, "src/lib/Telemetry.ts"), "utf8")
  const declared = [...source.matchAll(/\b(counter|Metric\.gauge|Metric\.histogram)\(\s*"([a-z_.]+)"/g)]
  return new Set(declared.flatMap(([, kind, dotted]) => {
    const name = dotted!.replace(/\./g, "_")
    return kind === "counter" ? [`${name}_total`] : kind === "Metric.histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]
  }))
}

/** The job's metric names a PromQL text uses. */
const metricsIn = (text: string) => [...new Set(text.match(/\bdelay_notifications_[a-z_]+/g) ?? [])]

interface Rule {
  readonly alert: string
  readonly expr: string
  readonly annotations: { readonly runbook_url: string; readonly summary: string }
}
const rules = (): ReadonlyArray<Rule> =>
  (YAML.parse(readFileSync(alertsFile, "utf8")) as { groups: Array<{ rules: Array<Rule> }> }).groups.flatMap((g) => g.rules)

describe("the operations kit (deploy/monitoring)", () => {
  it("the dashboard's JSON is what dashboard.ts builds with Grafana's Foundation SDK", () => {
    expect(readFileSync(dashboardFile, "utf8")).toBe(dashboardJson())
  })

  it("the alerts and the dashboard use only metrics the job exports, and every metric an alert needs is there", () => {
    const exported = exportedNames()
    // Every metric declared: a histogram is three names.
    expect(exported.size).toBe(Object.keys(Metrics).length + 2)
    const used = [...rules().flatMap((rule) => metricsIn(rule.expr)), ...metricsIn(readFileSync(dashboardFile, "utf8"))]
    expect(used.filter((name) => !exported.has(name))).toEqual([])
    for (const needed of ["delay_notifications_run_exit_code", "delay_notifications_ledger_dead_letters", "delay_notifications_backlog_oldest_pending_age_seconds"]) {
      expect(used).toContain(needed)
    }
  })

  it("every alert links to its row of the on-call table in docs/operations.md", () => {
    const anchors = anchorsOf(path.join(root, "docs/operations.md"))
    const all = rules()
    expect(all.length).toBe(7)
    for (const rule of all) {
      const [page, anchor] = rule.annotations.runbook_url.replace(/^https:\/\/github\.com\/[^/]+\/[^/]+\/blob\/main\//, "").split("#")
      expect(page, rule.alert).toBe("docs/operations.md")
      expect(anchors.has(anchor!), `${rule.alert}: #${anchor}`).toBe(true)
    }
  })
})
