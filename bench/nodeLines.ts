/**
 * The job's CPU and memory on several Node lines in one run (bench/RESULTS.md, "Node lines"):
 * bench/run.ts for the job and the hand-tuned script at N = 100,000, L = 0, n/100, under each
 * line's `node` in turn (Node's own builds from the npm registry: dev/fromRegistry.mjs), round
 * after round with the order alternating, so that the machine's drift falls on every line alike.
 * Every process of a run (the job, the script, the fake notify service) runs on that line.
 *
 *   tsx bench/nodeLines.ts [--lines 20,26] [--rounds 3]
 *
 * Prints a Markdown table of the medians.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({ options: { lines: { type: "string", default: "20,26" }, rounds: { type: "string", default: "3" } } })
const root = path.resolve(import.meta.dirname, "..")
const lines = values.lines!.split(",")
const nodes = new Map(lines.map((line) => [line, path.join(execFileSync("node", ["dev/fromRegistry.mjs", "node", line], { cwd: root, encoding: "utf8" }).trim(), "node")]))
const folder = mkdtempSync(path.join(tmpdir(), "node-lines-"))

interface Run {
  readonly wallMs: number
  readonly notified: number
  readonly rssMb: number
  readonly cpuUs: number
  readonly dbCpuUs: number
}
const runs = new Map<string, Array<{ readonly cli: Run; readonly script: Run }>>(lines.map((line) => [line, []]))

for (let round = 0; round < Number(values.rounds); round++) {
  for (const line of round % 2 === 0 ? lines : [...lines].reverse()) {
    const results = path.join(folder, `${line}-${round}.json`)
    execFileSync(nodes.get(line)!, [
      "--import", "tsx", "bench/run.ts", "--contenders", "cli,hand-tuned", "--sizes", "100000", "--workloads", "n/100",
      "--latencies", "0", "--runs", "1", "--results", results, "--out", path.join(folder, "RESULTS.md")
    ], { cwd: root, stdio: ["ignore", "ignore", "inherit"] })
    const { results: rows } = JSON.parse(readFileSync(results, "utf8")) as {
      results: ReadonlyArray<{ readonly contender: string; readonly runs: ReadonlyArray<Run> }>
    }
    const of = (contender: string) => rows.find((row) => row.contender === contender)!.runs[0]!
    runs.get(line)!.push({ cli: of("cli"), script: of("hand-tuned") })
    process.stderr.write(`round ${round + 1}, Node ${line}: the job ${of("cli").cpuUs.toFixed(1)} µs a notification\n`)
  }
}
rmSync(folder, { recursive: true, force: true })

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length % 2 === 1 ? sorted[sorted.length >> 1]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2
}
const version = (line: string) => execFileSync(nodes.get(line)!, ["--version"], { encoding: "utf8" }).trim()
console.log("| Node | the job's CPU, µs a notification | the script's | ratio | PostgreSQL's CPU for the job | the job's peak RSS, MB | the job, notifications a second |")
console.log("| --- | --- | --- | --- | --- | --- | --- |")
for (const line of lines) {
  const all = runs.get(line)!
  const cpu = median(all.map((r) => r.cli.cpuUs))
  const script = median(all.map((r) => r.script.cpuUs))
  console.log(
    `| ${version(line)} | ${cpu.toFixed(0)} | ${script.toFixed(0)} | ${(cpu / script).toFixed(2)} | ${median(all.map((r) => r.cli.dbCpuUs)).toFixed(0)} | ` +
      `${median(all.map((r) => r.cli.rssMb)).toFixed(0)} | ${median(all.map((r) => (r.cli.notified * 1000) / r.cli.wallMs)).toFixed(0)} |`
  )
}
