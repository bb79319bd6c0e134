/**
 * Migration 7: claims of batches. Pending todos are found and claimed through a batch row that
 * holds their keys, not through per-row claims and indexes: a notification's outcome then
 * changes no indexed column of the ledger and is written in place (heap-only), and its claim
 * writes nothing to its ledger row (bench/NOTES.md, "The ledger's database cost").
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** The todos a batch row held when a ledger's pending rows were carried over. */
const carriedBatchSize = 200

/**
 * - `batches`: one row per batch of pending todos (their keys in three arrays), when its first is
 *   due, and its claim and lease: a claimed batch holds exactly the todos its run has not recorded.
 * - The ledger's pending rows are carried over into batches, oldest first, 200 a batch; rows under
 *   a live claim go into batches of their run's, claimed until the latest of their leases, so a
 *   run that was sending when the schema changed keeps its claims for as long as it had them.
 * - `dead_since`: set only on a dead letter, and indexed in place of the state.
 * - The claim's columns and the indexes on state and next_attempt_at go; `created_at` becomes
 *   `added_at`. An older binary's statements name them, so it stops with a database error instead
 *   of claiming around the batches or adding rows no batch holds.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE delay_notifications.batches (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      next_attempt_at timestamptz NOT NULL,
      fair_rank integer NOT NULL,
      oldest_due date NOT NULL,
      claimed_by uuid,
      claim_expires_at timestamptz,
      workspace_ids uuid[] NOT NULL,
      todo_ids uuid[] NOT NULL,
      due_dates date[] NOT NULL
    )`
  yield* sql`CREATE INDEX batches_claimable ON delay_notifications.batches (next_attempt_at, oldest_due, id)`
  yield* sql`CREATE INDEX batches_fair ON delay_notifications.batches (fair_rank, next_attempt_at, id)`
  yield* sql`CREATE INDEX batches_claimed_by ON delay_notifications.batches (claimed_by) WHERE claimed_by IS NOT NULL`
  yield* sql`
    WITH pending AS (
      SELECT workspace_id, todo_id, due_date, next_attempt_at, fair_rank,
             CASE WHEN claim_expires_at > now() THEN claimed_by END AS holder,
             CASE WHEN claim_expires_at > now() THEN claim_expires_at END AS lease
      FROM delay_notifications.notifications WHERE state = 'pending'
    ),
    numbered AS (
      SELECT p.*, row_number() OVER (PARTITION BY holder ORDER BY next_attempt_at, due_date, workspace_id, todo_id) AS rn
      FROM pending p
    )
    INSERT INTO delay_notifications.batches
      (next_attempt_at, fair_rank, oldest_due, claimed_by, claim_expires_at, workspace_ids, todo_ids, due_dates)
    SELECT min(next_attempt_at), min(fair_rank), min(due_date), holder, max(lease),
           array_agg(workspace_id ORDER BY rn), array_agg(todo_id ORDER BY rn), array_agg(due_date ORDER BY rn)
    FROM numbered
    GROUP BY holder, (rn - 1) / ${carriedBatchSize}`
  yield* sql`ALTER TABLE delay_notifications.notifications ADD COLUMN dead_since timestamptz`
  yield* sql`UPDATE delay_notifications.notifications SET dead_since = updated_at WHERE state = 'dead'`
  yield* sql`
    CREATE INDEX notifications_dead_since ON delay_notifications.notifications (dead_since)
    WHERE dead_since IS NOT NULL`
  yield* sql`DROP INDEX delay_notifications.notifications_claimable`
  yield* sql`DROP INDEX delay_notifications.notifications_fair`
  yield* sql`DROP INDEX delay_notifications.notifications_dead`
  yield* sql`
    ALTER TABLE delay_notifications.notifications
      DROP COLUMN claimed_by,
      DROP COLUMN claim_expires_at`
  yield* sql`ALTER TABLE delay_notifications.notifications RENAME COLUMN created_at TO added_at`
})
