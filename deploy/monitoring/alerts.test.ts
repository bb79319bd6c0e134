/**
 * Writes alerts.test.yaml, promtool's unit tests of alerts.yaml: `npx tsx
 * deploy/monitoring/alerts.test.ts`; test/monitoring.test.ts checks the file is what this writes.
 *
 * Each case is a history of CronJob runs, five minutes apart, turned into the series Prometheus
 * would hold by each way the job reports, both tested:
 * - `pushgateway`: one group (instance "default") that each run replaces whole, so a gauge the
 *   newest run does not set goes stale (a failed run has no last-success time; a failed migrate
 *   has no backlog);
 * - `otlp`: through a Collector, each run a process and an instance of its own, whose series
 *   stay at their last value (until the exporter's metric_expiration, past these cases).
 * The names come from names.ts (the translation's rules), never written here by hand.
 */
import { readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import YAML from "yaml"
import { names } from "./names.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const job = "delay-notifications"

/** One run: its exit code and what it reported; `migrate` is the init container failing first. */
interface Run {
  readonly exit: number
  readonly migrate?: boolean
  readonly deadLetters?: number
  readonly oldestAge?: number
  readonly throttled?: number
}
/** A run that went through with nothing left over. */
const ok: Run = { exit: 0 }

type Way = "pushgateway" | "otlp"

/** What a run's process reports, by series name. */
const reported = (run: Run, endedAt: number): Record<string, number> => {
  const series: Record<string, number> = {
    [names.runExitCode]: run.exit,
    [names.runEnd]: endedAt,
    [names.runSent]: 0,
    [names.runFailed]: 0,
    [names.runDeadLetters]: 0,
    [names.runThrottled]: run.throttled ?? 0
  }
  if (run.exit === 0 || run.exit === 3) series[names.runLastSuccess] = endedAt
  if (run.migrate !== true) {
    series[names.backlogPending] = 0
    series[names.oldestPendingAge] = run.oldestAge ?? 0
    series[names.ledgerDeadLetters] = run.deadLetters ?? 0
    series[names.concurrencyLimit] = 4
  }
  return series
}

/** promtool's notation of values, one a minute: runs of the same value as `vxN`. */
const notation = (values: ReadonlyArray<string>): string => {
  const parts: Array<string> = []
  for (let i = 0; i < values.length;) {
    let j = i
    while (j + 1 < values.length && values[j + 1] === values[i] && values[i] !== "stale") j++
    parts.push(j === i ? values[i]! : `${values[i]}x${j - i}`)
    i = j + 1
  }
  return parts.join(" ")
}

/** The input series of `runs` (one every five minutes from time 0), sampled each minute up to `minutes`. */
const inputSeries = (way: Way, runs: ReadonlyArray<Run>, minutes: number) => {
  const ended = runs.map((run, i) => ({ run, at: 5 * i, series: reported(run, 5 * i * 60) }))
  const allNames = [...new Set(ended.flatMap(({ series }) => Object.keys(series)))]
  if (way === "otlp") {
    return ended.flatMap(({ at, series }, i) =>
      Object.entries(series).map(([name, value]) => ({
        series: `${name}{job="${job}",instance="run-${i}"}`,
        values: notation(Array.from({ length: minutes + 1 }, (_, t) => (t < at ? "_" : String(value))))
      }))
    )
  }
  return allNames.map((name) => {
    const values: Array<string> = []
    let present = false
    for (let t = 0; t <= minutes; t++) {
      const latest = ended.filter(({ at }) => at <= t).at(-1)
      const value = latest?.series[name]
      if (value !== undefined) {
        values.push(String(value))
        present = true
      } else {
        values.push(present ? "stale" : "_")
        present = false
      }
    }
    return { series: `${name}{job="${job}",instance="default"}`, values: notation(values) }
  })
}

interface Rule {
  readonly alert?: string
  readonly labels?: Record<string, string>
  readonly annotations?: Record<string, string>
}
const alertRules = (): ReadonlyArray<Rule> =>
  (YAML.parse(readFileSync(path.join(here, "alerts.yaml"), "utf8")) as { groups: Array<{ rules: Array<Rule> }> }).groups
    .flatMap((group) => group.rules)
    .filter((rule) => rule.alert !== undefined)

/** The alert as promtool should see it firing: its labels and its annotations rendered. */
const firing = (alertname: string, value?: number, labels: Record<string, string> = { job }) => {
  const rule = alertRules().find((r) => r.alert === alertname)!
  const render = (text: string) =>
    text.replaceAll("{{ $labels.job }}", labels.job ?? "").replaceAll("{{ $value }}", String(value))
  return {
    exp_labels: { ...rule.labels, ...labels },
    exp_annotations: Object.fromEntries(Object.entries(rule.annotations ?? {}).map(([k, v]) => [k, render(v)]))
  }
}

interface Case {
  readonly comment: string
  readonly runs: ReadonlyArray<Run>
  readonly minutes: number
  /** At each time (minutes), what each named alert should be: firing (with the value it shows) or not. */
  // Times are a couple of minutes off each `for:` boundary: promtool's evaluation steps are not
  // the point, how many runs are.
  readonly expect: ReadonlyArray<readonly [at: number, alert: string, firing: false | { value?: number; labels?: Record<string, string> }]>
}

const failing = (n: number, run: Run = { exit: 1 }): ReadonlyArray<Run> => Array.from({ length: n }, () => run)

const cases: ReadonlyArray<Case> = [
  {
    comment: "Three runs in a row fail (exit 1) after one that went through: RunsFailing at the third, not before.",
    runs: [ok, ...failing(4)],
    minutes: 20,
    expect: [[12, "DelayNotificationsRunsFailing", false], [17, "DelayNotificationsRunsFailing", { value: 1 }]]
  },
  {
    comment: "The database refuses connections: the migrate init container fails first, three times; RunsFailing all the same.",
    runs: [ok, ...failing(4, { exit: 1, migrate: true })],
    minutes: 20,
    expect: [[12, "DelayNotificationsRunsFailing", false], [17, "DelayNotificationsRunsFailing", { value: 1 }]]
  },
  {
    comment: "A run in between went through: not three in a row.",
    runs: [ok, { exit: 1 }, { exit: 1 }, ok, { exit: 1 }, { exit: 1 }],
    minutes: 25,
    expect: [[25, "DelayNotificationsRunsFailing", false]]
  },
  {
    comment: "Exit 3 went through (some todos failed, tried again later): neither RunsFailing nor NoSuccessfulRun.",
    runs: failing(20, { exit: 3 }),
    minutes: 100,
    expect: [[100, "DelayNotificationsRunsFailing", false], [100, "DelayNotificationsNoSuccessfulRun", false]]
  },
  {
    comment: "The last run that went through ended at time 0, and no run came after (the CronJob suspended).",
    runs: [ok],
    minutes: 70,
    expect: [[62, "DelayNotificationsNoSuccessfulRun", false], [68, "DelayNotificationsNoSuccessfulRun", {}]]
  },
  {
    comment: "Runs keep failing for over an hour: NoSuccessfulRun too (Alertmanager inhibits it under RunsFailing).",
    runs: [ok, ...failing(14)],
    minutes: 70,
    expect: [[70, "DelayNotificationsNoSuccessfulRun", {}], [70, "DelayNotificationsRunsFailing", { value: 1 }]]
  },
  {
    comment: "No run has ever reported.",
    runs: [],
    minutes: 10,
    expect: [[10, "DelayNotificationsNoSuccessfulRun", { labels: { job } }]]
  },
  {
    comment: "The notify service is down for three runs (exit 4): NotifyServiceDown, and RunsFailing (inhibited by it).",
    runs: [ok, ...failing(4, { exit: 4 })],
    minutes: 20,
    expect: [
      [12, "DelayNotificationsNotifyServiceDown", false],
      [17, "DelayNotificationsNotifyServiceDown", {}],
      [17, "DelayNotificationsRunsFailing", { value: 4 }]
    ]
  },
  {
    comment: "One run met the outage breaker, the next went on: nothing.",
    runs: [ok, { exit: 4 }, ok, ok],
    minutes: 20,
    expect: [[20, "DelayNotificationsNotifyServiceDown", false], [20, "DelayNotificationsRunsFailing", false]]
  },
  {
    comment: "The credentials are refused in two runs in a row (exit 5).",
    runs: [ok, ...failing(3, { exit: 5 })],
    minutes: 15,
    expect: [[7, "DelayNotificationsCredentialsRefused", false], [12, "DelayNotificationsCredentialsRefused", {}]]
  },
  {
    comment: "The oldest pending todo is over a day old for six runs.",
    runs: failing(8, { exit: 0, oldestAge: 90_000 }),
    minutes: 35,
    expect: [[27, "DelayNotificationsOldestPendingTooOld", false], [33, "DelayNotificationsOldestPendingTooOld", {}]]
  },
  {
    comment: "The oldest pending todo is under a day old.",
    runs: failing(8, { exit: 0, oldestAge: 80_000 }),
    minutes: 35,
    expect: [[35, "DelayNotificationsOldestPendingTooOld", false]]
  },
  {
    comment: "Two notifications became dead letters at 10m: a ticket 5 minutes on, gone an hour after the growth.",
    runs: [ok, ok, ...failing(16, { exit: 3, deadLetters: 2 })],
    minutes: 80,
    expect: [
      [12, "DelayNotificationsDeadLettersGrowing", false],
      [17, "DelayNotificationsDeadLettersGrowing", {}],
      [78, "DelayNotificationsDeadLettersGrowing", false]
    ]
  },
  {
    comment: "Every run is throttled for half an hour.",
    runs: failing(8, { exit: 0, throttled: 120 }),
    minutes: 35,
    expect: [[27, "DelayNotificationsThrottled", false], [33, "DelayNotificationsThrottled", {}]]
  },
  {
    comment: "One run in between was not throttled.",
    runs: [...failing(4, { exit: 0, throttled: 120 }), ok, ...failing(3, { exit: 0, throttled: 120 })],
    minutes: 35,
    expect: [[35, "DelayNotificationsThrottled", false]]
  }
]

const testsOf = (way: Way) =>
  cases.map((c) => {
    const times = [...new Set(c.expect.map(([at]) => at))]
    const alertTests = times.flatMap((at) => {
      const alerts = [...new Set(c.expect.filter(([t]) => t === at).map(([, alert]) => alert))]
      return alerts.map((alertname) => {
        const expected = c.expect.filter(([t, a]) => t === at && a === alertname).map(([, , f]) => f)
        return {
          eval_time: `${at}m`,
          alertname,
          exp_alerts: expected.flatMap((f) => (f === false ? [] : [firing(alertname, f.value, f.labels)]))
        }
      })
    })
    return { interval: "1m", input_series: inputSeries(way, c.runs, c.minutes), alert_rule_test: alertTests, comment: `${way}: ${c.comment}` }
  })

/** The file's text. */
export const alertsTestYaml = (): string => {
  const tests = (["pushgateway", "otlp"] as const).flatMap(testsOf)
  const body = YAML.stringify(
    {
      rule_files: ["alerts.yaml"],
      evaluation_interval: "1m",
      tests: tests.map(({ comment: _, ...test }) => test)
    },
    { lineWidth: 0 }
  )
  // Each test's comment above it.
  let index = 0
  const commented = body.replace(/^  - interval: 1m$/gm, () => `  # ${tests[index++]!.comment}\n  - interval: 1m`)
  return `# Written by alerts.test.ts (npx tsx deploy/monitoring/alerts.test.ts): do not edit by hand.\n` +
    `# promtool test rules deploy/monitoring/alerts.test.yaml\n${commented}`
}

export const alertsTestFile = path.join(here, "alerts.test.yaml")

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(alertsTestFile, alertsTestYaml())
