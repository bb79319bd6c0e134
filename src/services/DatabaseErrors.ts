/**
 * The errors every port on PostgreSQL shares: the database failed (the run cannot go on), the
 * job's schema is not the one this code needs, the database's clock and the host's disagree, or
 * its PostgreSQL is older than the job supports.
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
      "run the job's migrate command first (`node dist/main.js migrate`; with the image, `migrate` as the container's command)"
  }
}

/**
 * The most the host's clock and the database's may disagree by (Kerberos's default maximum clock
 * skew): the reference date comes from the host's, leases and the record of reads from the
 * database's, and a run on two clocks further apart could send early or trust a read it did not make.
 */
export const clockSkewMarginMs = 5 * 60_000

/** The host's clock and the database's disagree by more than `clockSkewMarginMs`: the run does not start. */
export class ClocksDisagree extends Schema.TaggedError<ClocksDisagree>()("ClocksDisagree", {
  hostTime: Schema.String,
  databaseTime: Schema.String
}) {
  override get message(): string {
    const apart = Math.round(Math.abs(Date.parse(this.hostTime) - Date.parse(this.databaseTime)) / 1000)
    return `the host's clock reads ${this.hostTime} and the database's ${this.databaseTime}, ${apart} s apart ` +
      `(at most ${clockSkewMarginMs / 60_000} minutes): set both right (NTP) and run again`
  }
}

/**
 * The PostgreSQL majors the job supports: from 14, whose TID range scans read a range of the todos
 * table's blocks without scanning the rest (TodoRepository/Parts.ts; on 13 and older every part
 * read scans the whole table), to the newest tested (CI runs the tests on both ends).
 */
export const postgresMajors = { oldest: 14, newestTested: 18 } as const

/** `migrate` on a PostgreSQL older than `postgresMajors.oldest`: nothing is created. */
export class PostgresTooOld extends Schema.TaggedError<PostgresTooOld>()("PostgresTooOld", {
  version: Schema.String
}) {
  override get message(): string {
    return `the database runs PostgreSQL ${this.version}, and the job needs ${postgresMajors.oldest} or newer ` +
      `(tested on ${postgresMajors.oldest} to ${postgresMajors.newestTested}): it reads the todos table a range of blocks at a time, ` +
      `which PostgreSQL reads without scanning the whole table from ${postgresMajors.oldest} on; upgrade the database, then run migrate again`
  }
}
