/**
 * The job's own bounds on every wait for PostgreSQL. The server's statement_timeout cannot end a
 * wait on a connection the server no longer hears (a failed-over primary, a dropped NAT entry, a
 * proxy that stopped forwarding): only a deadline in the client can. Each kind of round trip has
 * one, and a statement past it is abandoned (its connection destroyed, never pooled again:
 * layers/SqlLive.ts) and fails with NoAnswer. The deadline is pg's own per-query read timeout,
 * chosen per statement from StatementDeadline.
 */
import { Config, Duration, Effect, FiberRef, Schema } from "effect"
import { durationConfig } from "./Durations.js"
import { Env } from "./Environment.js"

export interface DatabaseDeadlines {
  /** Opening a connection: TCP, TLS and authentication (DATABASE_CONNECT_TIMEOUT). */
  readonly connect: Duration.Duration
  /** A short round trip: a claim, a renewal, a batch's outcomes, a count, a look at the state (DATABASE_TIMEOUT). */
  readonly roundTrip: Duration.Duration
  /** PostgreSQL's own statement_timeout on the job's sessions (DATABASE_STATEMENT_TIMEOUT). */
  readonly statement: Duration.Duration
  /**
   * A statement that may legitimately run long (a part of the backlog added, the todos table
   * read, a prune, a migration): the server's statement_timeout, and time for its answer.
   */
  readonly long: Duration.Duration
}

/** How long the server's cancel of a statement past statement_timeout may take to reach the job. */
const cancelMargin = Duration.seconds(5)

export const databaseDeadlinesConfig: Config.Config<DatabaseDeadlines> = Config.all({
  connect: durationConfig(Env.DATABASE_CONNECT_TIMEOUT, Duration.seconds(10), {
    min: Duration.seconds(1),
    max: Duration.minutes(5)
  }),
  roundTrip: durationConfig(Env.DATABASE_TIMEOUT, Duration.seconds(15), {
    min: Duration.seconds(1),
    max: Duration.hours(1)
  }),
  statement: durationConfig(Env.DATABASE_STATEMENT_TIMEOUT, Duration.minutes(1), {
    min: Duration.seconds(1),
    max: Duration.hours(24)
  })
}).pipe(Config.map((deadlines) => ({ ...deadlines, long: Duration.sum(deadlines.statement, cancelMargin) })))

/** The database gave no answer within a deadline of the job's own: it, or the way to it, stopped answering. */
export class NoAnswer extends Schema.TaggedError<NoAnswer>()("NoAnswer", {
  within: Schema.DurationFromSelf,
  /** The variable that sets this deadline. */
  setting: Schema.String
}) {
  override get message(): string {
    return `the database did not answer within ${Duration.format(this.within)} (${this.setting})`
  }
}

/** A round trip's deadline: milliseconds, and the setting that gives them (for the error). */
export interface Deadline {
  readonly ms: number
  readonly setting: string
}

/**
 * The deadline of the statements a fiber runs (none set: the pool's, DATABASE_TIMEOUT). The pool
 * reads it as a statement takes its connection (layers/SqlLive.ts) and hands it to pg, which
 * fails the statement with "Query read timeout" when no answer has come by then: a timer in the
 * driver, no fiber or Effect timeout per statement (bench/NOTES.md, "Deadlines on the database":
 * those showed in the CPU per notification).
 */
export const StatementDeadline: FiberRef.FiberRef<Deadline | undefined> = FiberRef.unsafeMake<Deadline | undefined>(undefined)

/** `self`'s statements bounded by `within` (named by `setting` in the error). */
export const answeredWithin = (within: Duration.Duration, setting: string) => {
  const deadline: Deadline = { ms: Math.round(Duration.toMillis(within)), setting }
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.locally(self, StatementDeadline, deadline)
}

/** The error a statement past its deadline fails with (pg's "Query read timeout", named). */
export const noAnswer = (deadline: Deadline): NoAnswer =>
  new NoAnswer({ within: Duration.millis(deadline.ms), setting: deadline.setting })

/** The two kinds of statement of the job, each bounded by its deadline. */
export const deadlinesOf = (deadlines: DatabaseDeadlines) => ({
  /** A short round trip, within DATABASE_TIMEOUT. */
  roundTrip: answeredWithin(deadlines.roundTrip, Env.DATABASE_TIMEOUT),
  /** A statement that may run long, within DATABASE_STATEMENT_TIMEOUT and a margin. */
  long: answeredWithin(deadlines.long, `${Env.DATABASE_STATEMENT_TIMEOUT} and 5s`)
})
