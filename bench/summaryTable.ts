/**
 * The one-screen summary at the top of bench/RESULTS.md: the job against the hand-tuned script,
 * the seed's design and graphile-worker, from the figures the benchmark's parts wrote
 * (results.json, results-queues.json, results-window.json, results-limits.json).
 */
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"

interface Run {
  readonly wallMs: number
  readonly unique: number
  readonly rssMb: number
  readonly cpuUs: number
  readonly dbCpuUs?: number
  readonly roundTrips: number
  readonly capped: boolean
}
interface Result {
  readonly n: number
  readonly workload: string
  readonly latency: number
  readonly contender: string
  readonly runs: ReadonlyArray<Run>
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (x: number, digits = 0) => (Number.isNaN(x) ? "–" : x.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits }))
const json = <A>(file: string): A | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as A) : undefined)

export const summarySection = (root: string): string => {
  const queues = json<{ results: ReadonlyArray<Result> }>(path.join(root, "bench/results-queues.json"))?.results ?? []
  const main = json<{ results: ReadonlyArray<Result> }>(path.join(root, "bench/results.json"))?.results ?? []
  const windows = json<ReadonlyArray<{ n: number; row: string; wallMs: number }>>(path.join(root, "bench/results-window.json")) ?? []
  const limits = json<ReadonlyArray<{ scenario: string; setting: string; perSecond: number }>>(path.join(root, "bench/results-limits.json")) ?? []
  const atDefaults = median(limits.filter((m) => m.scenario === "no limit, L = 20 ms" && m.setting === "defaults").map((m) => m.perSecond))
  if (queues.length === 0) return ""
  const n = Math.max(...queues.map((r) => r.n))
  const of = (results: ReadonlyArray<Result>, contender: string, latency: number, size = n) =>
    results.find((r) => r.contender === contender && r.latency === latency && r.n === size && r.workload === "n/100")
  const rate = (r: Result | undefined) => (r === undefined ? NaN : median(r.runs.map((m) => m.unique / (m.wallMs / 1000))))
  const measure = (r: Result | undefined, f: (m: Run) => number | undefined) => (r === undefined ? NaN : median(r.runs.map((m) => f(m) ?? NaN)))
  const contenders = ["cli", "hand-tuned", "graphile-worker"] as const
  const cell = (contender: string, f: (r: Result | undefined) => number, digits = 0) => fmt(f(of(queues, contender, 0)), digits)
  const seed = of(main, "seed-design", 0, 10_000)
  const row = (label: string, f: (r: Result | undefined) => number, digits = 0, seedValue = "–") =>
    `| ${label} | ${contenders.map((c) => cell(c, f, digits)).join(" | ")} | ${seedValue} |`
  const windowOf = (row: string) => median(windows.filter((w) => w.row === row && w.n === Math.max(...windows.map((x) => x.n))).map((w) => w.wallMs))
  const largest = windows.length === 0 ? 0 : Math.max(...windows.map((w) => w.n))
  return `
## Summary

${fmt(n)} todos, half of them due, over ${fmt(n / 100)} workspaces; a notify stand-in that answers
at once (L = 0) or after 20 ms; the same machine and run for the job, a hand-tuned script (keyset
pages, no ledger, no guarantees) and graphile-worker (a job per todo, run by its worker pool at
the same concurrency of 64). The seed's design (one todo at a time, an UPDATE each) is shown at
10,000 todos, the largest it finishes in reasonable time. Details and method below.

| ${fmt(n)} todos | the job | hand-tuned script | graphile-worker | the seed's design (10,000) |
| --- | --- | --- | --- | --- |
${row("notifications a second, L = 0", rate, 0, fmt(rate(seed)))}
| notifications a second, L = 20 ms | ${contenders.map((c) => fmt(rate(of(queues, c, 20)))).join(" | ")} | – |
${row("CPU of the process, µs per notification", (r) => measure(r, (m) => m.cpuUs), 0, fmt(measure(seed, (m) => m.cpuUs)))}
${row("PostgreSQL's CPU, µs per notification", (r) => measure(r, (m) => m.dbCpuUs), 0, fmt(measure(seed, (m) => m.dbCpuUs)))}
${row("database transactions per notification", (r) => measure(r, (m) => m.roundTrips), 3, fmt(measure(seed, (m) => m.roundTrips), 3))}
${row("peak RSS, MB", (r) => measure(r, (m) => m.rssMb), 0, fmt(measure(seed, (m) => m.rssMb)))}
| each todo notified exactly once, whatever fails | yes (ledger, claims, Idempotency-Key) | no | no record once a job completes | no |

- A cron run with nothing new over ${fmt(largest)} todos, with an index on "dueDate": ${fmt(windowOf("window") / 1000, 2)} s, against ${fmt(windowOf("full pass") / 1000, 2)} s reading the whole table ("A cron run over a large table").
- The rows above hold every contender to 64 in flight. At its defaults (a ceiling of 200, the limit found as it goes) the job sends ${fmt(atDefaults)} a second at L = 20 ms over the same backlog; against a notify service with unpublished limits it finds them by itself ("Limited notify services").
`
}
