import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { distMain, runBuilt, stackTraceLine } from "./support/process.js"

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
    expect(result.stdout).toContain("Exit codes: 0 every delayed todo notified (or nothing pending), or the notify service turned every")
  })

  it("rejects bad usage with exit 2, one line saying why, and the usage; no stack trace or JSON", async () => {
    const result = await runBuilt(["send-delay-notifications", "--now", "--at", "2022-06-03"])
    expect(result.code).toBe(2)
    const lines = result.stderr.split("\n").filter((line) => line.trim() !== "")
    expect(lines[0]).toBe("Give either --now or --at, not both.")
    expect(lines[1]).toBe("Usage:")
    expect(result.stderr).not.toMatch(stackTraceLine)
    expect(result.stderr).not.toContain("{")
    expect(result.stdout).toBe("")
  })

  it("rejects a malformed cron expression for schedule with exit 2 and one line saying why", async () => {
    const result = await runBuilt(["schedule", "--cron", "61 * * * *"])
    expect(result.code).toBe(2)
    expect(result.stderr.split("\n")[0]).toBe(`--cron: Expected a value between 0 and 59: "61 * * * *"`)
    expect(result.stderr).not.toMatch(stackTraceLine)
    expect(result.stdout).toBe("")
  })

  it("exits 1 with one line on a malformed OTEL_EXPORTER_OTLP_ENDPOINT, PUSHGATEWAY_URL or LOG_FORMAT", async () => {
    for (
      const [env, message] of [
        [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT: Expected an http:// or https:// URL"],
        [{ PUSHGATEWAY_URL: "pushgateway:9091" }, "PUSHGATEWAY_URL: Expected an http:// or https:// URL"],
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
    expect(output).not.toMatch(stackTraceLine)
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

  const unreachable = {
    DATABASE_URL: "postgres://job:pw@127.0.0.1:9/todos",
    SERVICES_URL: "http://127.0.0.1:9",
    CLIENT_ID: "todos",
    CLIENT_SECRET: "s3cr3t-value"
  }

  it("refuses options out of range, an impossible --at and a bad --time-zone with exit 2 and one line, whatever the mode", async () => {
    for (
      const [args, line] of [
        [["send-delay-notifications", "--lease", "100000000d"], "--lease must be between 1s and 1d."],
        [["send-delay-notifications", "--dry-run", "--lease", "100000000d"], "--lease must be between 1s and 1d."],
        [["send-delay-notifications", "--grace", "0s"], "--grace must be between 1s and 1h."],
        [["schedule", "--cron", "* * * * *", "--concurrency", "0"], "--concurrency must be between 1 and 1024."],
        [["send-delay-notifications", "--at", "2022-02-30T10:00:00Z"], `--at: Expected a date (2022-06-03) or a date-time (2022-06-03T23:30:00Z): "2022-02-30T10:00:00Z"`],
        [["status", "--limit", "-1"], "--limit must be between 0 and 10000."],
        [["prune", "--retention", "5m"], "--retention must be between 1h and 3650d."],
        [["send-delay-notifications", "--time-zone", "Mars/Base"], `--time-zone: Unknown time zone (use an IANA name such as Europe/Berlin, or an offset such as +02:00): "Mars/Base"`]
      ] as const
    ) {
      const result = await runBuilt(args, { env: unreachable })
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr.split("\n")[0]).toBe(line)
      expect(result.stderr).not.toMatch(stackTraceLine)
    }
  })

  it("a bad variable behind an option is configuration: exit 1, one line naming it (not usage)", async () => {
    for (
      const [env, line] of [
        [{ TIME_ZONE: "Mars/Base" }, "TIME_ZONE: Unknown time zone"],
        [{ LEASE: "100000000d" }, "LEASE: must be between 1s and 1d"],
        [{ CONCURRENCY: "0" }, "CONCURRENCY: must be between 1 and 1024"],
        [{ GRACE_PERIOD: "soon" }, "GRACE_PERIOD: Expected a duration such as 500ms, 90s, 5m, 2h or 30d"]
      ] as const
    ) {
      const result = await runBuilt(["send-delay-notifications", "--dry-run"], { env: { ...unreachable, ...env } })
      expect(result.code, JSON.stringify(env)).toBe(1)
      const errors = result.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.level === "ERROR")
      expect(errors).toHaveLength(1)
      expect(errors[0].message).toBe("Invalid configuration. Aborting job...")
      expect(errors[0].error).toContain(line)
    }
    const schedule = await runBuilt(["schedule"], { env: { ...unreachable, SCHEDULE: "61 * * * *" } })
    expect(schedule.code).toBe(1)
    expect(schedule.stdout).toContain(`SCHEDULE: Expected a value between 0 and 59: \\"61 * * * *\\"`)
  })

  it("exits 1 naming OTEL_EXPORTER_OTLP_HEADERS when a value is not URL encoding, without printing it", async () => {
    const result = await runBuilt(["send-delay-notifications", "--now"], {
      env: { ...unreachable, OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%zz-token" }
    })
    expect(result.code).toBe(1)
    expect(result.stderr.trim()).toBe(
      "Invalid configuration. Aborting job... OTEL_EXPORTER_OTLP_HEADERS: A value is not valid URL encoding (a % not followed by two hex digits)"
    )
    expect(result.stdout + result.stderr).not.toContain("zz-token")
  })

  it("writes --help and usage as plain text into a pipe (no ANSI escape codes)", async () => {
    const help = await runBuilt(["send-delay-notifications", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("--lease text")
    expect(help.stdout).not.toContain("\u001b")
    const usage = await runBuilt(["send-delay-notifications", "--bogus"])
    expect(usage.code).toBe(2)
    expect(usage.stderr).not.toContain("\u001b")
  })
})
