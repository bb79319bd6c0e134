/**
 * How a long run shows its progress: by default a log line ("Progress.") every period; on a
 * terminal with the pretty format, one line that rewrites itself (Progress/Live.ts).
 */
import { Context, DateTime, Duration, Effect } from "effect"

/** Where progress goes; log lines unless a layer provides the terminal's bar. */
export class Progress extends Context.Reference<Progress>()("app/Progress", {
  defaultValue: (): ProgressReporter => progressLines
}) {}

export interface ProgressSnapshot {
  readonly sent: number
  readonly failed: number
  readonly deadLetters: number
  /** Claimable todos in the ledger (not claimed by any run); undefined when it could not be read. */
  readonly leftToClaim: number | undefined
  /** Claimed by this run and not done yet. */
  readonly inHand: number
  /** Todos done per second over the last period. */
  readonly perSecond: number
  /** Requests the run lets be in flight now (its adaptive limit), and those throttled so far. */
  readonly concurrency: number
  readonly throttled: number
  /** While the backlog still enters the ledger: parts added of all. */
  readonly enqueueing: { readonly added: number; readonly of: number } | undefined
  /** When the run should end at this rate (only once the whole backlog is in the ledger). */
  readonly estimatedEnd: DateTime.Utc | undefined
  readonly elapsed: Duration.Duration
}

/** The share done, 0 to 1, when what is left is known. */
export const shareDone = (snapshot: ProgressSnapshot): number | undefined => {
  if (snapshot.leftToClaim === undefined || snapshot.enqueueing !== undefined) return undefined
  const done = snapshot.sent + snapshot.failed + snapshot.deadLetters
  const all = done + snapshot.leftToClaim + snapshot.inHand
  return all === 0 ? 1 : done / all
}

/** The snapshot as log annotations. */
export const progressAnnotations = (snapshot: ProgressSnapshot): Record<string, unknown> => ({
  sent: snapshot.sent,
  failed: snapshot.failed,
  deadLetters: snapshot.deadLetters,
  ...(snapshot.leftToClaim === undefined ? {} : { leftToClaim: snapshot.leftToClaim }),
  inHand: snapshot.inHand,
  perSecond: Math.round(snapshot.perSecond),
  concurrency: snapshot.concurrency,
  ...(snapshot.throttled === 0 ? {} : { throttled: snapshot.throttled }),
  ...(snapshot.enqueueing === undefined ? {} : { enqueueing: `${snapshot.enqueueing.added} of ${snapshot.enqueueing.of} parts` }),
  ...(snapshot.estimatedEnd === undefined ? {} : { estimatedEnd: DateTime.formatIso(snapshot.estimatedEnd) }),
  elapsed: Duration.format(Duration.seconds(Math.round(Duration.toSeconds(snapshot.elapsed))))
})

export interface ProgressReporter {
  readonly report: (snapshot: ProgressSnapshot) => Effect.Effect<void>
  /** The run ended (a terminal line is closed). */
  readonly end: Effect.Effect<void>
}

/** A log line per report. */
export const progressLines: ProgressReporter = {
  report: (snapshot) => Effect.logInfo("Progress.").pipe(Effect.annotateLogs(progressAnnotations(snapshot))),
  end: Effect.void
}
