/**
 * What a run reads of the todos table, and the rule that chooses it: a window (the todos due since
 * the latest reference a run read completely, less a margin) when the table has an index on
 * "dueDate" and a full pass is recent; else the whole table (a full pass), which also catches what
 * a window cannot see: a todo inserted with a due date before the window (an import), or one whose
 * due date moved from the future to before the window.
 */
import { DateTime, Duration } from "effect"
import { CalendarDate } from "./Todo.js"

/** Why a run reads the whole todos table. */
export type FullPassReason =
  /** No run has read the table completely yet (or the record of it was lost). */
  | "first-run"
  /**
   * --at: a replay reads everything due at its reference. It is recorded as a replay, never as
   * the full pass --full-pass-every waits for, nor as a reference a window starts from: a replay
   * in the past does not cover what came due since, one in the future is not today.
   */
  | "replay"
  /**
   * The record of earlier reads is dated after now: a full pass that began later than the
   * database's now, or a reference after the run's (a database clock stepped back, a restore, a
   * host clock that ran ahead). It is not trusted; the run reads everything and records anew.
   */
  | "future-record"
  /** The latest complete full pass began longer than --full-pass-every ago. */
  | "due"
  /** The todos table has no index a window could use (on "dueDate", as a date). */
  | "no-index"

export type Reading =
  | {
    readonly _tag: "FullPass"
    readonly reason: FullPassReason
    /** For "no-index": the statement that would create the index a window needs, on this table. */
    readonly createIndex?: string
    /** For "future-record": what was dated after now. */
    readonly distrusted?: { readonly lastFullPassAt?: number; readonly lastReference?: CalendarDate }
  }
  /** The todos due from `since` to the run's reference, both included. */
  | { readonly _tag: "Window"; readonly since: CalendarDate }

/**
 * Days before the latest complete reference that a window still reads: a todo inserted just after
 * a run with a due date in those days (yesterday's, in another time zone) is still found by the
 * next window, not only by the next full pass.
 */
export const windowMarginDays = 2

/** How often a run reads the whole todos table unless told (--full-pass-every). */
export const defaultFullPassEvery = Duration.hours(24)

/** What the ledger knows of earlier reads, and of the table, when a run plans its own. */
export interface ReadingFacts {
  readonly reference: CalendarDate
  /** --at: the run replays a reference of the operator's choosing. */
  readonly replay: boolean
  readonly indexed: boolean
  /** When the latest complete full pass began (epoch milliseconds, by the ledger's clock). */
  readonly lastFullPassAt: number | undefined
  /** The latest reference a run read completely (full pass or window; replays are not counted). */
  readonly lastReference: CalendarDate | undefined
  /** The ledger's clock now (epoch milliseconds). */
  readonly now: number
  readonly fullPassEvery: Duration.Duration
}

/** The date `days` days before `date`. */
export const daysBefore = (date: CalendarDate, days: number): CalendarDate =>
  CalendarDate.make(DateTime.formatIsoDate(DateTime.subtract(DateTime.unsafeMake(`${date}T00:00:00Z`), { days })))

/**
 * The reading a run makes. A window starts at the latest complete reference, less the margin:
 * every todo due before it that existed when that read began is in the ledger already. A record
 * dated after now is not trusted (a full pass, "future-record").
 */
export const planReading = (facts: ReadingFacts): Reading => {
  if (facts.replay) return { _tag: "FullPass", reason: "replay" }
  if (!facts.indexed) return { _tag: "FullPass", reason: "no-index" }
  if (facts.lastFullPassAt === undefined || facts.lastReference === undefined) return { _tag: "FullPass", reason: "first-run" }
  const futurePass = facts.lastFullPassAt > facts.now
  const futureReference = facts.lastReference > facts.reference
  if (futurePass || futureReference) {
    return {
      _tag: "FullPass",
      reason: "future-record",
      distrusted: {
        ...(futurePass ? { lastFullPassAt: facts.lastFullPassAt } : {}),
        ...(futureReference ? { lastReference: facts.lastReference } : {})
      }
    }
  }
  if (facts.now - facts.lastFullPassAt >= Duration.toMillis(facts.fullPassEvery)) return { _tag: "FullPass", reason: "due" }
  return { _tag: "Window", since: daysBefore(facts.lastReference, windowMarginDays) }
}

/** How a complete read is recorded (the passes table's kind). */
export const recordedAs = (reading: Reading): "full" | "window" | "replay" =>
  reading._tag === "Window" ? "window" : reading.reason === "replay" ? "replay" : "full"

/** A full pass, for a caller that must read everything (tests, tools). */
export const fullPass: Reading = { _tag: "FullPass", reason: "replay" }
