import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { connect } from "node:net"
import * as path from "node:path"
import { waitUntil } from "./support/TestApp.js"

const script = path.resolve(import.meta.dirname, "support/holdPostgres.ts")

/** Runs holdPostgres.ts in one process (tsx as a loader, not a wrapper process); resolves its first line (URL and folder) and its exit. */
const hold = (env: Record<string, string>) => {
  const child = spawn(process.execPath, ["--import", "tsx", script], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] })
  let stdout = ""
  const started = new Promise<{ url: string; folder: string; pid: number }>((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      stdout += chunk
      const line = stdout.split("\n")[0]!
      if (stdout.includes("\n")) resolve({ ...JSON.parse(line), pid: child.pid! })
    })
    child.on("error", reject)
  })
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return { child, started, exited }
}

const listening = (url: string) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1")
    socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(true))))
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("the embedded PostgreSQL of tests, demo and benchmark", () => {
  it.effect("leaves the process's exit code alone (a failing test run must exit non-zero)", () =>
    Effect.gen(function*() {
      const run = hold({ EXIT_CODE: "7" })
      const { folder } = yield* Effect.promise(() => run.started)
      expect(yield* Effect.promise(() => run.exited)).toBe(7)
      expect(existsSync(folder)).toBe(false)
    }))

  it.effect("is stopped and its folder removed when the process that started it is killed", () =>
    Effect.gen(function*() {
      const run = hold({ HOLD: "1" })
      const { folder, url } = yield* Effect.promise(() => run.started)
      expect(yield* listening(url)).toBe(true)
      run.child.kill("SIGKILL")
      yield* Effect.promise(() => run.exited)
      yield* waitUntil(Effect.map(listening(url), (up) => !up && !existsSync(folder)), 30_000)
    }))
})
