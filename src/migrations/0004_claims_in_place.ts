/**
 * Migration 4: claims and renewals change the ledger's rows in place (heap-only updates).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * A claim or a renewal sets a row's claimed_by and claim_expires_at. With no index on those
 * columns and room on the row's page, PostgreSQL writes the new version next to the old one and
 * touches no index (a HOT update); otherwise every claim wrote a new entry into each of the four
 * indexes, and claims were most of the database's CPU in a run (bench/RESULTS.md, item 17).
 * - The index on claimed_by (migration 3) goes: a run renews its claims by their keys (it holds
 *   them), not by looking its id up.
 * - Rows are added to pages up to 45 % full, so every row of a page can be claimed at once and
 *   its new version (with the claim's 24 bytes) still find room: a batch of todos due the same day
 *   takes whole pages. The room is used again: a row's older versions are pruned when the page is
 *   next read. After a run the ledger takes 28 % more pages than before this migration (3,227
 *   against 2,522 for 100,000 sent todos; bench/RESULTS.md, item 17).
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS delay_notifications.notifications_claimed_by`
  yield* sql`ALTER TABLE delay_notifications.notifications SET (fillfactor = 45)`
})
