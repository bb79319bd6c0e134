/**
 * What one run did (RunSummary), why it may have stopped early (StopReason, StopSignal), and
 * its send rate.
 */
import type { CalendarDate } from "./Todo.js"

/** A request from outside to stop: Kubernetes' SIGTERM, Ctrl-C's SIGINT. */
export type StopSignal = "SIGTERM" | "SIGINT"

/**
 * Why a run stopped before it ran out of work: the notify service looked down, the auth service
 * refused the job's credentials, the notify service turned every request away for a while
 * (throttled: the rest is left for a later run, no failure), or a signal.
 */
export type StopReason = "outage" | "credentials-rejected" | "throttled" | StopSignal

/** What one run did, counted as it went. */
export interface RunSummary {
  readonly reference: CalendarDate
  /** Delayed todos this run claimed and tried. */
  readonly delayed: number
  readonly sent: number
  /** Tries that failed and will be made again by a later run. */
  readonly failed: number
  /** Todos that failed their last allowed try this run and are kept as dead letters. */
  readonly deadLetters: number
  /** Requests sent again within the run after a transient failure (timeouts, 5xx, dropped connections). */
  readonly retried: number
  /**
   * Requests the notify service turned away to slow the job down (429, or a 503 with Retry-After or while other requests are accepted):
   * their todos were sent again later, or handed back, with no attempt counted.
   */
  readonly throttled: number
  /** Requests in flight the run ended at: the limit it found (or the fixed --concurrency). */
  readonly concurrency: number
  /** Claimed todos handed back untried because the run stopped early. */
  readonly released: number
  /** Outcomes not recorded because another run had taken the claim over (not counted above). */
  readonly claimsLost: number
  /**
   * Outcomes the run knew but could not write as it ended (the database failed or stopped
   * answering, or a stop's time ran out): those todos stay claimed until their lease ends, and
   * are sent again with the same Idempotency-Key.
   */
  readonly unrecorded: number
  /** Why the run stopped before it ran out of work. */
  readonly stopped: StopReason | undefined
  /** Rows that could not be read as a delayed todo (reported with their key, not sent). */
  readonly skipped: number
  /** From the start of the run to its summary, in milliseconds. */
  readonly durationMs: number
}

/** Notifications sent per second of the run (0 for a run shorter than a millisecond). */
export const sendRate = (summary: Pick<RunSummary, "sent" | "durationMs">): number =>
  summary.durationMs > 0 ? Math.round((summary.sent * 1000 * 10) / summary.durationMs) / 10 : 0
