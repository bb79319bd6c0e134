/**
 * The errors every port on PostgreSQL shares: the database failed (the run cannot go on), or the
 * job's schema is not the one this code needs.
 */
import { Schema } from "effect"
import { NoAnswer } from "../lib/DatabaseDeadlines.js"
import { describeCause } from "../lib/Errors.js"

/** pg's pool found no connection within DATABASE_CONNECT_TIMEOUT. */
const connectTimedOut = /timeout exceeded when trying to connect|Connection terminated due to connection timeout/

/** The database could not be reached or a query failed: the run cannot go on. */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    const cause = describeCause(this.cause)
    return `${this.operation} failed: ${
      connectTimedOut.test(cause) ? "no connection to the database could be opened within DATABASE_CONNECT_TIMEOUT" : cause
    }`
  }
}

/**
 * The database, or the way to it, stopped answering: a round trip outlived the job's own
 * deadline, or no connection could be opened within its own.
 */
export const stoppedAnswering = (error: DatabaseError): boolean => {
  for (let cause = error.cause, depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
    if (cause instanceof NoAnswer) return true
  }
  return connectTimedOut.test(describeCause(error.cause))
}

/** Wraps what failed during `operation` (for `Effect.mapError`). */
export const failedTo = (operation: string) => (cause: unknown): DatabaseError => new DatabaseError({ operation, cause })

/** The job's own tables are missing or older than this code: `migrate` must run first. */
export class SchemaNotCurrent extends Schema.TaggedError<SchemaNotCurrent>()("SchemaNotCurrent", {
  applied: Schema.Number,
  expected: Schema.Number
}) {
  override get message(): string {
    return `The job's database schema is not current (migration ${this.applied} of ${this.expected} applied): ` +
      "run `delay-notifications migrate` first"
  }
}
