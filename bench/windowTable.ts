/**
 * The "A cron run over a large table" section of bench/RESULTS.md, from bench/results-window.json
 * (written by bench/window.ts): each row's medians, and the targets met or missed.
 */
import { existsSync, readFileSync } from "node:fs"
import type { WindowMeasurement } from "./window.js"

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const verdict = (ok: boolean) => (ok ? "met" : "missed")
const fmt = (n: number) => Math.round(n).toLocaleString("en")
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

export const windowSection = (file: string): string => {
  if (!existsSync(file)) return ""
  const all = JSON.parse(readFileSync(file, "utf8")) as Array<WindowMeasurement>
  const groups = new Map<string, Array<WindowMeasurement>>()
  for (const m of all) groups.set(`${m.n}\u0000${m.row}`, [...(groups.get(`${m.n}\u0000${m.row}`) ?? []), m])
  const of = (n: number, row: WindowMeasurement["row"]) => groups.get(`${n}\u0000${row}`) ?? []
  const wall = (ms: ReadonlyArray<WindowMeasurement>) => median(ms.map((m) => m.wallMs))
  const rows = [...groups.values()].map((ms) => {
    const m = ms[0]!
    const first = ms.every((x) => x.firstMs === null) ? "–" : seconds(median(ms.map((x) => x.firstMs ?? NaN)))
    return `| ${fmt(m.n)} | ${m.row} | ${ms.length} | ${seconds(wall(ms))} | ${fmt(median(ms.map((x) => x.jobCpuMs)))} ms | ` +
      `${fmt(median(ms.map((x) => x.dbCpuMs)))} ms | ${fmt(median(ms.map((x) => x.buffers)))} | ${fmt(median(ms.map((x) => x.sent)))} | ${first} |`
  })
  const sizes = [...new Set(all.map((m) => m.n))].sort((a, b) => a - b)
  const smallest = sizes[0]!
  const largest = sizes.at(-1)!
  const targets: Array<string> = []
  for (const n of sizes) {
    const w = wall(of(n, "window"))
    targets.push(`- Nothing new, ${fmt(n)} todos, with the index: ${seconds(w)} (target at most 0.8 s: ${verdict(w <= 800)}).`)
  }
  if (largest > smallest) {
    const ratio = wall(of(largest, "window")) / wall(of(smallest, "window"))
    targets.push(`- Nothing new, ${fmt(largest)} against ${fmt(smallest)} todos: ${ratio.toFixed(2)} × (target at most 1.2: ${verdict(ratio <= 1.2)}).`)
  }
  const fresh = of(largest, "window, 1,000 new")
  if (fresh.length > 0) {
    const first = median(fresh.map((m) => m.firstMs ?? NaN))
    targets.push(`- 1,000 new todos in ${fmt(largest)}: the first notification ${seconds(first)} after the process started (target at most 0.5 s: ${verdict(first <= 500)}).`)
  }
  for (const n of sizes) {
    const before = of(n, "full pass, before windows")
    if (before.length === 0) continue
    const ratio = wall(of(n, "full pass")) / wall(before)
    targets.push(`- The full pass at ${fmt(n)} todos: ${ratio.toFixed(2)} × the read before windows (target no slower, within the runs' 5 % spread: ${verdict(ratio <= 1.05)}).`)
  }
  return `
## A cron run over a large table

N todos due over the last 900 days (N/100 workspaces), every one already sent and the ledger
vacuumed, an index on "dueDate" (bench/window.ts). "full pass": \`--full-pass-every 0s\`, the whole
table read in parts as every run did before windows; "full pass, before windows": the same run by
the build before windows; "window": the run after a full pass, reading the todos due since two
days before its reference; "window, 1,000 new": 1,000 todos due yesterday inserted just before.
Wall: the process, start to exit. CPU: the job's own, and all of PostgreSQL's processes. Buffers:
the shared blocks the run's statements hit or read (pg_stat_statements). First: from the start of
the process to the first notification at the fake. Medians of the runs.

| N | run | runs | wall | job CPU | PostgreSQL CPU | buffers | sent | first |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${targets.join("\n")}
`
}
