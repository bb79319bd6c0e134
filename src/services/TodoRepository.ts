/**
 * The port to the delayed todos and the job's record of them (the ledger): its operations and
 * the values they take and give. Its adapter on PostgreSQL is TodoRepository/ (Live.ts assembles
 * it; how it reads the todos table is its own, Parts.ts); tests use it on a real database, or
 * test/support/InMemoryLedger.ts.
 */
import { Context, type Duration, type Effect, Schema, type Stream } from "effect"
import type { Reading } from "../domain/Reading.js"
import type { CalendarDate, ClaimedTodo, DelayedTodo } from "../domain/Todo.js"
import type { ClocksDisagree, DatabaseError } from "./DatabaseErrors.js"

/**
 * The delayed todos and the job's record of them (the ledger): which were notified, which are
 * claimed by a run, which failed and when to try again.
 */
export class TodoRepository extends Context.Tag("app/TodoRepository")<TodoRepository, {
  /**
   * What a run at `reference` reads of the todos table (domain/Reading): a window of the todos due
   * since the latest complete read, or the whole table (a full pass, and why), from what the
   * ledger records of earlier reads and whether the table has an index on "dueDate". Fails when
   * the ledger is on the database's clock and the host's disagrees with it (ClocksDisagree).
   */
  readonly planReading: (
    reference: CalendarDate,
    options: { readonly replay: boolean; readonly fullPassEvery: Duration.Duration }
  ) => Effect.Effect<Reading, DatabaseError | ClocksDisagree>
  /**
   * Adds every todo of `reading` (default: a full pass) due on or before `reference` that the
   * ledger does not know, in steps, so that claims can start once the first is in: the stream
   * gives each step as it is in, and ends when all are; the read is then recorded as complete.
   * Rows that are not valid delayed todos are reported, not added. `inOneStep`: all in one
   * statement (--fair ranks each workspace's todos over what one statement adds, and claims
   * take them in that order). `batchSize`: the todos a claim takes at most (default 200).
   */
  readonly enqueueDelayed: (
    reference: CalendarDate,
    options?: { readonly reading?: Reading; readonly inOneStep?: boolean; readonly batchSize?: number }
  ) => Stream.Stream<Enqueued, DatabaseError>
  /**
   * Claims up to `size` pending todos whose next try is due and whose claim is free or expired,
   * skipping rows other runs hold (FOR UPDATE SKIP LOCKED). A claimed todo that no longer exists
   * with that due date is dropped from the ledger instead of returned (and counted).
   */
  readonly claim: (request: ClaimRequest) => Effect.Effect<Claimed, DatabaseError>
  /**
   * One short round trip within its deadline: fails when the database (or the way to it) has
   * stopped answering. A run checks it while it waits on longer statements.
   */
  readonly answers: Effect.Effect<void, DatabaseError>
  /** Pending todos whose next try is due and that no run holds: what is left to claim now. */
  readonly leftToClaim: Effect.Effect<number, DatabaseError>
  /** The due date of the oldest pending todo (none: nothing pending), and the dead letters held. */
  readonly backlogState: Effect.Effect<BacklogState, DatabaseError>
  /** Extends the live claims of `owner` on `todos` to `lease` from now; returns how many it held. */
  readonly renew: (
    owner: string,
    lease: Duration.Duration,
    todos: ReadonlyArray<DelayedTodo>
  ) => Effect.Effect<number, DatabaseError>
  /**
   * What a run would try now, read only (for --dry-run): todos due on or before `reference` that
   * the ledger does not know yet, and those it holds pending with their next try due and no live
   * claim; oldest first, as a stream.
   */
  readonly pending: (reference: CalendarDate) => Stream.Stream<ClaimedTodo, DatabaseError>
  /**
   * Writes outcomes of this owner's claims, in one statement. Returns the outcomes whose claim
   * the owner no longer held (another run took the todo over): nothing of them was written.
   */
  readonly record: (
    owner: string,
    outcomes: ReadonlyArray<Outcome>
  ) => Effect.Effect<{ readonly notHeld: ReadonlyArray<Outcome> }, DatabaseError>
}>() {}

/** One row of the todos table that is not a valid delayed todo; reported with its key and skipped. */
export class UndecodableTodo extends Schema.TaggedError<UndecodableTodo>()("UndecodableTodo", {
  workspaceId: Schema.String,
  todoId: Schema.String,
  reason: Schema.String
}) {}

/** What the ledger holds that an operator watches: its oldest pending todo, and its dead letters. */
export interface BacklogState {
  readonly oldestPendingDue: CalendarDate | undefined
  readonly deadLetters: number
}

/** What happened to a claimed todo; written back in batches. */
export type Outcome =
  | { readonly _tag: "Sent"; readonly todo: ClaimedTodo }
  | {
    readonly _tag: "RetryLater"
    readonly todo: ClaimedTodo
    readonly attempts: number
    /** From the time of the write, by the ledger's clock (the database's). */
    readonly retryIn: Duration.Duration
    readonly status: number | undefined
    readonly error: string
  }
  | {
    readonly _tag: "DeadLetter"
    readonly todo: ClaimedTodo
    readonly attempts: number
    readonly status: number | undefined
    readonly error: string
  }
  /**
   * Claimed but not tried, or turned away by a throttling notify service (the run is stopping,
   * the claim ran short, or the wait the service asked for is longer than the run keeps a todo):
   * pending again, at once or after `retryIn`, no attempt counted.
   */
  | {
    readonly _tag: "Released"
    readonly todo: ClaimedTodo
    readonly retryIn?: Duration.Duration | undefined
    /** Handed back to wait for its workspace's turn: the run claims it again when that comes (not counted as released). */
    readonly inTurn?: true
  }

export interface ClaimRequest {
  /** The run that claims; only it may record the outcome. It never takes a claim it already holds. */
  readonly owner: string
  readonly size: number
  /** How long the claim holds, from the ledger's clock; after that another run may take the todo over. */
  readonly lease: Duration.Duration
  /** Oldest first (the default), or round-robin over workspaces (one of each before a second of any). */
  readonly order: "oldest-first" | "fair"
}

export interface Claimed {
  readonly todos: ReadonlyArray<ClaimedTodo>
  /** Claimable rows whose todo no longer exists with that due date: dropped from the ledger, not returned. */
  readonly dropped: number
}

/**
 * One step of adding the backlog to the ledger: the todos it added and the rows it could not read,
 * and how far the adding has come (steps done, and expected in all: the expectation can change as
 * the adding goes).
 */
export interface Enqueued {
  readonly added: number
  readonly undecodable: ReadonlyArray<UndecodableTodo>
  readonly step: number
  readonly steps: number
}

/**
 * Where the ledger's time comes from. `database`: PostgreSQL's now(), one clock for every worker,
 * so a pod whose clock is off cannot take over live claims (production). `clock`: Effect's Clock,
 * so tests can move it with TestClock.
 */
export type LedgerTime = "database" | "clock"
