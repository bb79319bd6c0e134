/**
 * The operator's port to the ledger: migrate it (one process at a time), show its state and dead
 * letters, requeue dead letters, prune rows of deleted todos (guarded). Its live layer is
 * LedgerAdmin/Live.ts.
 */
import { Context, type DateTime, type Effect, Schema } from "effect"
import type { DatabaseError, PostgresTooOld } from "./DatabaseErrors.js"

/** What operators do with the job's state: migrate it, look at it, requeue dead letters, prune it. */
export class LedgerAdmin extends Context.Tag("app/LedgerAdmin")<LedgerAdmin, {
  /**
   * Creates or updates the job's own schema; returns the migrations applied now. Idempotent.
   * Refuses a PostgreSQL older than the job supports, creating nothing (PostgresTooOld).
   */
  readonly migrate: Effect.Effect<ReadonlyArray<string>, DatabaseError | PostgresTooOld>
  readonly status: (now: DateTime.Utc, limit: number) => Effect.Effect<LedgerStatus, DatabaseError>
  /** Makes dead letters (all, or of one workspace / todo) pending again with fresh attempts. */
  readonly requeue: (
    filter: { readonly workspaceId?: string | undefined; readonly todoId?: string | undefined },
    now: DateTime.Utc
  ) => Effect.Effect<number, DatabaseError>
  /**
   * Deletes rows, older than `before`, whose todo no longer exists with that due date (deleted, or
   * its due date moved). Rows of existing todos stay: without them a todo would be notified again.
   * Refuses, deleting nothing, when that is more than `maxShare` percent of the rows of sent
   * notifications, unless `force`.
   */
  readonly prune: (
    before: DateTime.Utc,
    guard: { readonly force: boolean; readonly maxShare: number }
  ) => Effect.Effect<{ readonly pruned: number; readonly todosTable: string }, DatabaseError | PruneRefused>
}>() {}

/**
 * prune would delete more than the allowed share of the rows that record sent notifications: the
 * todos table is more likely empty or unreadable right now than that many todos deleted, and
 * without those rows every todo would be notified again.
 */
export class PruneRefused extends Schema.TaggedError<PruneRefused>()("PruneRefused", {
  todosTable: Schema.String,
  wouldDelete: Schema.Number,
  sent: Schema.Number,
  maxShare: Schema.Number
}) {
  override get message(): string {
    return `prune would delete ${this.wouldDelete} of the ${this.sent} rows of sent notifications (more than ` +
      `${this.maxShare}%): is ${this.todosTable} empty or the wrong table? Check TODOS_TABLE, or give --force`
  }
}

export interface DeadLetter {
  readonly workspaceId: string
  readonly todoId: string
  readonly dueDate: string
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly since: string
}

export interface LedgerStatus {
  /** Rows by state: pending (never tried), retrying (failed, waiting for the next try), claimed (held by a run now), sent, dead. */
  readonly counts: {
    readonly pending: number
    readonly retrying: number
    readonly claimed: number
    readonly sent: number
    readonly dead: number
  }
  /** The pending todo due the longest, if any. */
  readonly oldestPending: { readonly workspaceId: string; readonly todoId: string; readonly dueDate: string } | null
  /** The newest dead letters (at most `limit`). */
  readonly deadLetters: ReadonlyArray<DeadLetter>
}
