import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestServices } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { ExitCode } from "../../src/Cli.js"
import { NotificationClient } from "../../src/services/NotificationClient.js"
import { insertDelayedTodos, layersOnDatabase, ledgerRows, createTodosTable, TestDatabaseLive } from "../support/database.js"
import { captureLogs, cli } from "../support/TestApp.js"

describe("no silent exit", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a defect mid-run: one error line with the run id and the cause, the report says crashed, claims handed back, exit 1", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(50, 5)
        let sends = 0
        // A client with a bug: its third send throws.
        const buggy = Layer.succeed(NotificationClient, {
          longestSend: Duration.zero,
          send: () => ++sends === 3 ? Effect.die(new TypeError("Cannot read properties of undefined (reading 'id')")) : Effect.succeed({ retries: 0 })
        })
        const layers = yield* layersOnDatabase(buggy)
        const logs = yield* captureLogs
        const report = path.join(mkdtempSync(path.join(tmpdir(), "report-")), "run.json")
        const code = yield* cli(
          ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "1", "--batch-size", "10", "--report", report],
          layers
          // On the live clock, as a real run (its claims are renewed on timers).
        ).pipe(Effect.provide(logs.layer), TestServices.provideLive)
        expect(code).toBe(ExitCode.Aborted)
        const errors = logs.lines.filter((line) => line.level === "ERROR")
        expect(errors.map((line) => line.message)).toEqual(["Unexpected failure. Aborting job..."])
        expect(errors[0]!.annotations.runId).toMatch(/^[0-9a-f-]{36}$/)
        expect(errors[0]!.annotations.error).toBe("Cannot read properties of undefined (reading 'id')")
        expect(JSON.parse(readFileSync(report, "utf8"))).toMatchObject({
          outcome: "crashed",
          exitCode: 1,
          runId: errors[0]!.annotations.runId,
          error: "Cannot read properties of undefined (reading 'id')"
        })
        // The two sent are recorded; the batch's untouched todos are handed back; only the one that crashed stays claimed.
        const rows = yield* ledgerRows
        expect(rows.filter((r) => r.state === "sent").length).toBe(2)
        expect(rows.filter((r) => r.claimedBy !== null).length).toBe(1)
        expect(rows.filter((r) => r.state === "pending" && r.claimedBy === null && r.attempts === 0).length).toBe(47)
      }))
  })
})
