/**
 * How a send run ended (RunResult), and the --report file made from it: the run's summary as JSON,
 * written whole or not at all, for pipelines that act on it.
 */
import { FileSystem } from "@effect/platform"
import { DateTime, Effect, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { type RunSummary, sendRate } from "../domain/RunSummary.js"
import type { CalendarDate } from "../domain/Todo.js"
import { ExitCode } from "../ExitCode.js"
import { describeCause } from "../lib/Errors.js"

/** How a send run ended, for the exit code, --report and the scheduler. */
export interface RunResult {
  readonly runId: string
  readonly code: ExitCode
  readonly reference?: CalendarDate
  readonly summary?: RunSummary
  /** --dry-run: how many notifications a run would send now. */
  readonly wouldSend?: number
  /** Why the run aborted, on one line. */
  readonly error?: string
  /** It ended on an unexpected failure (a defect). */
  readonly crashed?: boolean
}

/**
 * Every outcome a report may give, as docs/operations.md lists them: the report's `outcome` is
 * checked against this type, so an outcome left out of the list does not compile.
 */
export const reportOutcomes = [
  "completed", "some-failed", "throttled", "outage", "credentials-rejected", "SIGTERM", "SIGINT", "aborted", "crashed", "dry-run"
] as const
export type ReportOutcome = (typeof reportOutcomes)[number]

/** The --report file: the run summary as JSON, for pipelines that act on it. */
export const reportOf = (result: RunResult, startedAt: DateTime.Utc, finishedAt: DateTime.Utc) => ({
  runId: result.runId,
  exitCode: result.code,
  outcome: (result.crashed === true
    ? "crashed"
    : result.wouldSend !== undefined
    ? "dry-run"
    : result.summary === undefined
    ? "aborted"
    : result.summary.stopped ?? (result.code === ExitCode.Success ? "completed" : "some-failed")) satisfies ReportOutcome,
  reference: result.reference ?? null,
  startedAt: DateTime.formatIso(startedAt),
  finishedAt: DateTime.formatIso(finishedAt),
  durationMs: DateTime.distance(startedAt, finishedAt),
  ...(result.summary === undefined ? {} : {
    delayed: result.summary.delayed,
    sent: result.summary.sent,
    failed: result.summary.failed,
    skipped: result.summary.skipped,
    retried: result.summary.retried,
    throttled: result.summary.throttled,
    concurrency: result.summary.concurrency,
    deadLetters: result.summary.deadLetters,
    released: result.summary.released,
    claimsLost: result.summary.claimsLost,
    unrecorded: result.summary.unrecorded,
    sentPerSecond: sendRate(result.summary)
  }),
  ...(result.wouldSend === undefined ? {} : { wouldSend: result.wouldSend }),
  ...(result.error === undefined ? {} : { error: result.error })
})

/** The --report file could not be written (the run itself is recorded). */
export class ReportNotWritten extends Schema.TaggedError<ReportNotWritten>()("ReportNotWritten", {
  file: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return describeCause(this.cause)
  }
}

/** Writes the report whole or not at all (a temporary file renamed over it). */
export const writeReport = (file: string, report: ReturnType<typeof reportOf>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const temporary = `${file}.${randomUUID()}.tmp`
    yield* fs.writeFileString(temporary, `${JSON.stringify(report, null, 2)}\n`)
    yield* fs.rename(temporary, file)
  }).pipe(Effect.mapError((cause) => new ReportNotWritten({ file, cause })))
