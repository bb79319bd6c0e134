/**
 * Migration 5: the record of a run's reads of the todos table that completed (passes).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * One row per read of the todos table that completed: a full pass (every todo of the table), or
 * a window (the todos due in a range of dates, through an index on "dueDate"). A later run reads
 * a window that starts at the latest completed reference, less a margin; a full pass is due
 * again once the latest full one is older than --full-pass-every. A run that stops or fails
 * before its read completes writes nothing here.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE delay_notifications.passes (
      kind text NOT NULL CHECK (kind IN ('full', 'window')),
      reference date NOT NULL,
      started_at timestamptz NOT NULL,
      completed_at timestamptz NOT NULL
    )`
  yield* sql`CREATE INDEX passes_by_kind ON delay_notifications.passes (kind, started_at)`
})
