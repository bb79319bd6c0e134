import { readFileSync } from "node:fs"
import { ConfigError, Duration } from "effect"
import { describe, expect, it } from "vitest"
import { ReportNotWritten } from "../src/cli/RunReport.js"
import { CalendarDate } from "../src/domain/Todo.js"
import { type Ending, endingOf, exitCodeOf } from "../src/Endings.js"
import { ExitCode, Lines } from "../src/ExitCode.js"
import { NoAnswer } from "../src/lib/DatabaseDeadlines.js"
import { LeaseTooShort } from "../src/run/Run.js"
import { ClocksDisagree, DatabaseError, PostgresTooOld, SchemaNotCurrent } from "../src/services/DatabaseErrors.js"
import { PruneRefused } from "../src/services/LedgerAdmin.js"

const databaseDown = new DatabaseError({ operation: "Claiming delayed todos", cause: new Error("connection refused") })
const noAnswer = new DatabaseError({
  operation: "Recording outcomes",
  cause: new NoAnswer({ within: Duration.seconds(15), setting: "DATABASE_TIMEOUT" })
})
const summary = { reference: CalendarDate.make("2022-06-03"), delayed: 1, sent: 0, failed: 0, deadLetters: 0, retried: 0, throttled: 0,
  concurrency: 4, released: 1, claimsLost: 0, unrecorded: 0, skipped: 0, durationMs: 1 }

/** Each way a command ends on a failure, as the one mapping gives it. */
const endings: ReadonlyArray<Ending> = [
  endingOf(ConfigError.InvalidData(["DATABASE_URL"], "not a URL"), "starting"),
  endingOf(new SchemaNotCurrent({ applied: 1, expected: 4 }), "starting"),
  endingOf(databaseDown, "starting"),
  endingOf(databaseDown, "running"),
  endingOf(noAnswer, "running"),
  endingOf(databaseDown, "migrating"),
  endingOf(databaseDown, "reading the state"),
  endingOf(databaseDown, "requeueing"),
  endingOf(databaseDown, "pruning"),
  endingOf(new PruneRefused({ todosTable: "todos", wouldDelete: 9, sent: 10, maxShare: 50 }), "pruning"),
  endingOf(new LeaseTooShort({ lease: Duration.seconds(10), minimum: Duration.minutes(5) }), "running"),
  endingOf(new ClocksDisagree({ hostTime: "2026-12-07T10:00:00.000Z", databaseTime: "2026-12-07T10:07:00.000Z" }), "running"),
  endingOf(new PostgresTooOld({ version: "13.23" }), "migrating"),
  endingOf(new ReportNotWritten({ file: "/run.json", cause: new Error("EACCES") }), "running"),
  endingOf(new TypeError("x is undefined"), "running"),
  // A run that stopped early: its line is the run's, its code the summary's.
  { line: Lines.notifyDown, detail: "", code: exitCodeOf({ ...summary, stopped: "outage" }) },
  { line: Lines.credentialsRejected, detail: "", code: exitCodeOf({ ...summary, stopped: "credentials-rejected" }) }
]

/** The on-call table: each row's first cell, its exit codes and the texts it quotes. */
const onCallRows = () => {
  const page = readFileSync(new URL("../docs/operations.md", import.meta.url), "utf8")
  const table = page.slice(page.indexOf("### When something goes wrong"))
  return table.slice(0, table.indexOf("\n## ")).split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| what you see") && !line.startsWith("| ---"))
    .map((line) => {
      const seen = line.split(" | ")[0]!
      const codes = [...seen.matchAll(/exit (\d+)(?: \/ (\d+))?/g)].flatMap((m) => m.slice(1).filter(Boolean).map(Number))
      const quoted = [...seen.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
      return { seen, codes, quoted }
    })
}

/** A quoted text names a line when the line starts with it ("..." standing for the rest). */
const names = (quoted: string, line: string) => line.startsWith(quoted.replace(/\.\.\.$/, ""))

describe("how a command ends: one mapping from a failure to its line and exit code", () => {
  it("gives every failure line, each with its own exit code", () => {
    const lines = endings.map((ending) => ending.line)
    expect(new Set(lines)).toEqual(new Set(Object.values(Lines)))
    expect(endings.find((ending) => ending.line === Lines.invalidLease)?.code).toBe(ExitCode.Usage)
    expect(endings.find((ending) => ending.line === Lines.databaseStoppedAnswering)?.detail).toMatch(/within 15s \(DATABASE_TIMEOUT\)/)
  })

  it("the on-call table (docs/operations.md) names every failure line with the exit code the mapping gives it", () => {
    const rows = onCallRows()
    for (const ending of endings) {
      const row = rows.find((r) => r.quoted.some((quoted) => names(quoted, ending.line)))
      expect(row, ending.line).toBeDefined()
      expect(row!.codes, ending.line).toContain(ending.code)
    }
  })

  it("each row of the on-call table that quotes a failure line says the exit code the mapping gives", () => {
    const quoting = onCallRows().filter((row) => row.codes.length > 0 && row.quoted.some((q) => endings.some((e) => names(q, e.line))))
    expect(quoting.length).toBeGreaterThan(0)
    for (const row of quoting) {
      const produced = endings.filter((ending) => row.quoted.some((quoted) => names(quoted, ending.line)))
      expect(produced.map((ending) => ending.code).filter((code) => !row.codes.includes(code)), row.seen).toEqual([])
    }
  })
})
