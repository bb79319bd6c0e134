/**
 * The errors every port on PostgreSQL shares: the database failed (the run cannot go on), or the
 * job's schema is not the one this code needs.
 */
import { Schema } from "effect"
import { describeCause } from "../lib/Errors.js"

/** The database could not be reached or a query failed: the run cannot go on. */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `${this.operation} failed: ${describeCause(this.cause)}`
  }
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
