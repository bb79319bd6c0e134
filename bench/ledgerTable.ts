/**
 * The "The ledger's database cost" section of bench/RESULTS.md, from bench/results-ledger.json
 * (bench/run.ts --contenders cli,hand-tuned --sizes 100000,1000000 --workloads n/100 --latencies 0
 * --results bench/results-ledger.json): the job beside the hand-tuned script in the same runs, at
 * 100,000 and 1,000,000 todos, and issue 39's targets met or missed.
 */
import { existsSync, readFileSync } from "node:fs"
import type { Measurement, Result } from "./run.js"

/**
 * The job's WAL per notification before issue 39 (8f5943e: 901 and 900 bytes at 100,000 and
 * 1,000,000 todos, bench/NOTES.md, "The ledger's database cost"); the target is half of it.
 */
export const walBeforeIssue39 = 900

const median = (xs: ReadonlyArray<number>) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const verdict = (ok: boolean) => (ok ? "met" : "missed")
const fmt = (n: number) => (Number.isNaN(n) ? "n/a" : Math.round(n).toLocaleString("en"))
const of = (r: Result, figure: (m: Measurement) => number | undefined) => median(r.runs.map((m) => figure(m) ?? NaN))
const rate = (r: Result) => median(r.runs.map((m) => m.unique / (m.wallMs / 1000)))

export const ledgerSection = (file: string): string => {
  if (!existsSync(file)) return ""
  const input = JSON.parse(readFileSync(file, "utf8"), (_, v) => (v === null ? NaN : v)) as {
    readonly results: ReadonlyArray<Result>
    readonly node?: string
    readonly serverVersion: string
  }
  const rows = input.results.map((r) =>
    `| ${fmt(r.n)} | ${r.contender} | ${r.runs.length} | ${fmt(rate(r))} | ${fmt(of(r, (m) => m.cpuUs))} | ` +
    `${fmt(of(r, (m) => m.dbCpuUs))} | ${fmt(of(r, (m) => m.walBytes))} |`
  )
  const targets: Array<string> = []
  for (const n of [...new Set(input.results.map((r) => r.n))].sort((a, b) => a - b)) {
    const job = input.results.find((r) => r.n === n && r.contender === "cli")
    const script = input.results.find((r) => r.n === n && r.contender === "hand-tuned")
    if (job === undefined || script === undefined) continue
    const at = `${fmt(n)} todos`
    const db = of(job, (m) => m.dbCpuUs) / of(script, (m) => m.dbCpuUs)
    targets.push(`- PostgreSQL's CPU per notification, ${at}: ${db.toFixed(2)} × the script's (target at most 2: ${verdict(db <= 2)}).`)
    const wal = of(job, (m) => m.walBytes)
    targets.push(`- WAL per notification, ${at}: ${fmt(wal)} bytes (target at most half of the ${fmt(walBeforeIssue39)} before, ${fmt(walBeforeIssue39 / 2)}: ${verdict(wal <= walBeforeIssue39 / 2)}).`)
    const speed = rate(job) / rate(script)
    const least = n >= 1_000_000 ? 0.75 : 0.9
    targets.push(`- Throughput, ${at}: ${speed.toFixed(2)} × the script (target at least ${least}: ${verdict(speed >= least)}).`)
  }
  return `
## The ledger's database cost

What the job's ledger costs PostgreSQL, beside the hand-tuned script (no ledger) in the same runs:
N todos over N/100 workspaces, half of them due, L = 0 ms, concurrency 64, the contenders taking
turns (${input.node ?? "Node ?"}, PostgreSQL ${input.serverVersion}). PostgreSQL's CPU counts every
process of the server; the WAL is the bytes the server wrote during the run (the todos table
vacuumed and a checkpoint taken before each). Where the bytes and the time go, statement by
statement, before and after: bench/NOTES.md, "The ledger's database cost".

| N | contender | runs | notifications/s | CPU µs / notification | PostgreSQL's CPU µs / notification | WAL bytes / notification |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${targets.join("\n")}
`
}
