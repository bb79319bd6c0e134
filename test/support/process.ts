import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

export const distMain = path.resolve(import.meta.dirname, "../../dist/main.js")

/** A line of a JavaScript stack trace (`at fn (file:1:2)` or `at file:1:2`): never in what the CLI prints. */
export const stackTraceLine = /^\s+at (?:.+ \()?\S+:\d+:\d+\)?$/m

export interface ProcessResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  readonly child: ChildProcess
  readonly done: Promise<ProcessResult>
}

/** Starts the built CLI as its own process, with exactly the environment given (plus PATH). */
export const startBuilt = (
  args: ReadonlyArray<string>,
  options: {
    readonly env?: Record<string, string>
    readonly main?: string
    readonly cwd?: string
    /** Node's own flags, before the script. */
    readonly node?: ReadonlyArray<string>
  } = {}
): Running => {
  const child = spawn(process.execPath, [...(options.node ?? []), options.main ?? distMain, ...args], {
    env: { PATH: process.env.PATH ?? "", ...options.env },
    cwd: options.cwd ?? process.cwd(),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk) => (stdout += chunk))
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  const done = new Promise<ProcessResult>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, done }
}

/** Runs the built CLI to its end. */
export const runBuilt = (args: ReadonlyArray<string>, options: Parameters<typeof startBuilt>[1] = {}): Promise<ProcessResult> =>
  startBuilt(args, options).done

/**
 * Runs the built CLI to its end and measures its peak resident memory (the kernel's maxRSS,
 * reported by the process itself as it exits), in MiB.
 */
export const runBuiltMeasured = async (args: ReadonlyArray<string>, options: Parameters<typeof startBuilt>[1] = {}) => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "peak-rss-")), "peak")
  const result = await runBuilt(args, {
    ...options,
    node: ["--import", path.resolve(import.meta.dirname, "reportPeakRss.mjs"), ...(options.node ?? [])],
    env: { ...options.env, PEAK_RSS_FILE: file }
  })
  return { ...result, peakRssMiB: Number(readFileSync(file, "utf8")) / 1024 }
}

/** The JSON log lines a built job wrote (its stdout off a terminal). */
export const logLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout.trim().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))

/** The run's summary line (`Finished to send delay notifications.`), when it wrote one. */
export const summaryLine = (stdout: string) =>
  logLines(stdout).find((line) => line.message === "Finished to send delay notifications.")

/**
 * Waits for every process to end, at most `withinMs`: past it, each still running gets SIGTERM
 * (the job writes what it had done) and then SIGKILL, and the wait fails with the last lines
 * each process wrote, so that a run that hangs says where instead of timing the test out.
 */
export const allEnded = async (runs: ReadonlyArray<Running>, withinMs: number): Promise<Array<ProcessResult>> => {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<"expired">((resolve) => (timer = setTimeout(() => resolve("expired"), withinMs)))
  const all = Promise.all(runs.map((run) => run.done))
  const first = await Promise.race([all, expired])
  clearTimeout(timer)
  if (first !== "expired") return first
  const hung = runs.filter((run) => run.child.exitCode === null && run.child.signalCode === null)
  for (const run of hung) run.child.kill("SIGTERM")
  const killer = setTimeout(() => hung.forEach((run) => run.child.kill("SIGKILL")), 10_000)
  const results = await all
  clearTimeout(killer)
  const tails = results.map((result, i) =>
    `process ${i + 1} (${hung.includes(runs[i]!) ? "still running" : `exit ${result.code}`}):\n` +
    [...result.stdout.trim().split("\n").slice(-12), ...result.stderr.trim().split("\n").slice(-5)].join("\n")
  )
  throw new Error(`not every process ended within ${withinMs / 1000} s; what each wrote last:\n${tails.join("\n")}`)
}
