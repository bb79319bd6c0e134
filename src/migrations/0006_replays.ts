/**
 * Migration 6: a replay (--at) is recorded as one (kind 'replay'), not as a full pass: a replay in
 * the past does not cover what came due since, and must not put off the full pass that
 * --full-pass-every waits for, nor start a window. On the small passes table: a moment's lock.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE delay_notifications.passes
      DROP CONSTRAINT passes_kind_check,
      ADD CONSTRAINT passes_kind_check CHECK (kind IN ('full', 'window', 'replay'))`
})
