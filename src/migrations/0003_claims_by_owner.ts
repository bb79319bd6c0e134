/**
 * Migration 3: an index on the claim's owner, for renewing a run's claims.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * A run renews its live claims every quarter of its lease (`WHERE claimed_by = <run>`): this
 * index keeps that a look-up of the few rows claimed now, not a scan of the whole ledger.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE INDEX notifications_claimed_by ON delay_notifications.notifications (claimed_by)
    WHERE claimed_by IS NOT NULL`
})
