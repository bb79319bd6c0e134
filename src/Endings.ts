/**
 * How a command ends: the one mapping from a failure to its line (each written once, in ExitCode.ts)
 * and its exit code, and from a run's summary to its exit code. main, the root command and every
 * command end through it.
 */
import { ConfigError, Effect, Predicate } from "effect"
import type { RunSummary } from "./domain/RunSummary.js"
import { ExitCode, Lines } from "./ExitCode.js"
import { describeCause, describeConfigError } from "./lib/Errors.js"
import { LeaseTooShort } from "./run/Run.js"
import { ClocksDisagree, DatabaseError, PostgresTooOld, SchemaNotCurrent, stoppedAnswering } from "./services/DatabaseErrors.js"
import { PruneRefused } from "./services/LedgerAdmin.js"

/** What the command was doing when the database failed: it names the line. */
export type Doing = "starting" | "running" | "migrating" | "reading the state" | "requeueing" | "pruning"

/** How a failure ends a command: its line, what is logged with it as `error`, and the exit code. */
export interface Ending {
  readonly line: string
  readonly detail: string
  readonly code: ExitCode
}

const databaseFailedWhile: Record<Doing, string> = {
  starting: Lines.noConnection,
  running: Lines.databaseFailed,
  migrating: Lines.migrateFailed,
  "reading the state": Lines.statusFailed,
  requeueing: Lines.requeueFailed,
  pruning: Lines.pruneFailed
}

const aborted = (line: string, detail: string): Ending => ({ line, detail, code: ExitCode.Aborted })

/** The ending of a command that failed with `failure` while `doing`; anything unforeseen (a defect) is "unexpected". */
export const endingOf = (failure: unknown, doing: Doing): Ending => {
  if (ConfigError.isConfigError(failure)) return aborted(Lines.invalidConfiguration, describeConfigError(failure))
  if (failure instanceof SchemaNotCurrent) return aborted(Lines.schemaNotCurrent, failure.message)
  if (failure instanceof ClocksDisagree) return aborted(Lines.clocksDisagree, failure.message)
  if (failure instanceof PostgresTooOld) return aborted(Lines.postgresTooOld, failure.message)
  if (failure instanceof LeaseTooShort) return { line: Lines.invalidLease, detail: failure.message, code: ExitCode.Usage }
  if (failure instanceof PruneRefused) return aborted(Lines.pruneRefused, failure.message)
  // By its tag: the report is the command's (cli/RunReport.ts), which the run never imports.
  if (Predicate.isTagged(failure, "ReportNotWritten")) return aborted(Lines.reportNotWritten, describeCause(failure))
  if (failure instanceof DatabaseError) {
    const stopped = doing === "running" && stoppedAnswering(failure)
    return aborted(stopped ? Lines.databaseStoppedAnswering : databaseFailedWhile[doing], failure.message)
  }
  return aborted(Lines.unexpected, describeCause(failure))
}

/** The ending on one line: its line, then its detail (stderr, where no logger is set up; a report's error). */
export const textOf = (ending: Ending): string => `${ending.line} ${ending.detail}`

/** Logs the ending as one error line, its detail as `error`, with the given annotations. */
export const logEnding = (ending: Ending, annotations: Record<string, unknown> = {}) =>
  Effect.logError(ending.line).pipe(Effect.annotateLogs({ error: ending.detail, ...annotations }))

/** The exit code of a run that ended with `summary`: why it stopped early, else whether anything failed. */
export const exitCodeOf = (summary: RunSummary): ExitCode =>
  summary.stopped === "outage"
    ? ExitCode.Outage
    : summary.stopped === "credentials-rejected"
    ? ExitCode.ClientRejected
    : summary.stopped === "SIGTERM"
    ? ExitCode.Terminated
    : summary.stopped === "SIGINT"
    ? ExitCode.Interrupted
    : summary.failed > 0 || summary.deadLetters > 0 || summary.skipped > 0
    ? ExitCode.SomeFailed
    : ExitCode.Success
