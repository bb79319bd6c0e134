import { spawn } from "node:child_process"
import * as path from "node:path"

export const distMain = path.resolve(import.meta.dirname, "../../dist/main.js")

export interface ProcessResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built CLI as its own process, with exactly the environment given (plus PATH). */
export const runBuilt = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly main?: string; readonly cwd?: string } = {}
): Promise<ProcessResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.main ?? distMain, ...args], {
      env: { PATH: process.env.PATH ?? "", ...options.env },
      cwd: options.cwd ?? process.cwd(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })
