/**
 * Migration 4: claims and renewals change the ledger's rows in place (heap-only updates).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * A claim or a renewal sets a row's claimed_by and claim_expires_at. With no index on those
 * columns and room on the row's page, PostgreSQL writes the new version next to the old one and
 * touches no index (a HOT update); otherwise every claim wrote a new entry into each of the four
 * indexes, the database's main cost in a run.
 * - The index on claimed_by (migration 3) goes: a run renews its claims by their keys (it holds
 *   them), not by looking its id up.
 * - Rows are added to pages less than half full (fillfactor 45), so every row of a page can be
 *   claimed at once and its new version (with the claim's 24 bytes) still find room: a batch of
 *   todos due the same day takes whole pages. The room is used again: a row's older versions are
 *   pruned when the page is next read. The ledger takes more pages for it ("Large backlogs and the
 *   steady state" in bench/NOTES.md).
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS delay_notifications.notifications_claimed_by`
  yield* sql`ALTER TABLE delay_notifications.notifications SET (fillfactor = 45)`
})
