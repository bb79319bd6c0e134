import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { distMain, runBuilt } from "./support/process.js"

const stackTrace = /^\s+at .+\(.*:\d+:\d+\)$/m

describe("the built CLI as a process", () => {
  const bare = mkdtempSync(path.join(tmpdir(), "delay-notifications-dist-"))
  afterAll(() => rmSync(bare, { recursive: true, force: true }))

  it("answers --help from a folder holding nothing but dist/", async () => {
    cpSync(path.dirname(distMain), path.join(bare, "dist"), { recursive: true })
    expect(readdirSync(bare)).toEqual(["dist"])
    const result = await runBuilt(["send-delay-notifications", "--help"], {
      main: path.join(bare, "dist", "main.js"),
      cwd: bare
    })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("send-delay-notifications [--now] [--at text]")
    expect(result.stdout).toContain("Exit codes: 0 every delayed todo notified")
  })

  it("rejects bad usage with exit 2, one line saying why, and the usage; no stack trace or JSON", async () => {
    const result = await runBuilt(["send-delay-notifications", "--now", "--at", "2022-06-03"])
    expect(result.code).toBe(2)
    const lines = result.stderr.split("\n").filter((line) => line.trim() !== "")
    expect(lines[0]).toBe("Give either --now or --at, not both.")
    expect(lines[1]).toBe("Usage:")
    expect(result.stderr).not.toMatch(stackTrace)
    expect(result.stderr).not.toContain("{")
    expect(result.stdout).toBe("")
  })

  it("rejects a malformed cron expression for schedule with exit 2 and one line saying why", async () => {
    const result = await runBuilt(["schedule", "--cron", "61 * * * *"])
    expect(result.code).toBe(2)
    expect(result.stderr.split("\n")[0]).toBe(`--cron: Expected a value between 0 and 59: "61 * * * *"`)
    expect(result.stderr).not.toMatch(stackTrace)
    expect(result.stdout).toBe("")
  })

  it("exits 1 with one line on a malformed OTEL_EXPORTER_OTLP_ENDPOINT or LOG_FORMAT", async () => {
    for (
      const [env, message] of [
        [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT: Expected an http:// or https:// URL"],
        [{ LOG_FORMAT: "xml" }, "LOG_FORMAT"]
      ] as const
    ) {
      const result = await runBuilt(["send-delay-notifications", "--now"], { env })
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split("\n")).toHaveLength(1)
      expect(result.stderr).toContain(`Invalid configuration. Aborting job... ${message}`)
    }
  })

  it("exits 1 naming a missing variable, and never prints a secret", async () => {
    const result = await runBuilt(["send-delay-notifications", "--at", "2022-06-03"], {
      env: { SERVICES_URL: "http://127.0.0.1:9", CLIENT_ID: "todos", CLIENT_SECRET: "s3cr3t-value" }
    })
    expect(result.code).toBe(1)
    const output = result.stdout + result.stderr
    expect(output).toContain("Invalid configuration. Aborting job...")
    expect(output).toContain("DATABASE_URL is not set")
    expect(output).not.toContain("s3cr3t-value")
    expect(output).not.toMatch(stackTrace)
  })

  it("exits 1 on a malformed DATABASE_URL without printing it (it holds a password)", async () => {
    const result = await runBuilt(["send-delay-notifications", "--at", "2022-06-03"], {
      env: {
        DATABASE_URL: "mysql://job:pa55word@db/todos",
        SERVICES_URL: "http://127.0.0.1:9",
        CLIENT_ID: "todos",
        CLIENT_SECRET: "s3cr3t-value"
      }
    })
    expect(result.code).toBe(1)
    const output = result.stdout + result.stderr
    expect(output).toContain("DATABASE_URL: Expected a postgres:// or postgresql:// URL")
    expect(output).not.toContain("pa55word")
    expect(output).not.toContain("s3cr3t-value")
  })
})
