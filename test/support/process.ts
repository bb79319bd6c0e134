import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"

export const distMain = path.resolve(import.meta.dirname, "../../dist/main.js")

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
  options: { readonly env?: Record<string, string>; readonly main?: string; readonly cwd?: string } = {}
): Running => {
  const child = spawn(process.execPath, [options.main ?? distMain, ...args], {
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
export const runBuilt = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly main?: string; readonly cwd?: string } = {}
): Promise<ProcessResult> => startBuilt(args, options).done

/** The JSON log lines a built job wrote (its stdout off a terminal). */
export const logLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout.trim().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))

/** The run's summary line (`Finished to send delay notifications.`), when it wrote one. */
export const summaryLine = (stdout: string) =>
  logLines(stdout).find((line) => line.message === "Finished to send delay notifications.")
