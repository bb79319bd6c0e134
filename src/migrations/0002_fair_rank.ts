/**
 * Migration 2: each row's rank within its workspace, for --fair claims.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * Per-workspace fairness: each row's rank within its workspace at enqueue time (1 for a
 * workspace's oldest new todo, 2 for the next...). Claiming by rank takes one todo of every
 * workspace before the second of any, so one huge workspace cannot starve the others.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE delay_notifications.notifications ADD COLUMN fair_rank integer NOT NULL DEFAULT 0`
  yield* sql`
    CREATE INDEX notifications_fair ON delay_notifications.notifications (fair_rank, next_attempt_at)
    WHERE state = 'pending'`
})
