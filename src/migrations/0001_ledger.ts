/**
 * Migration 1: the job's ledger (one row per todo and due date to notify, its state, claim and
 * tries) with its indexes, and the tolerant uuid and date conversions.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The job's ledger: one row per (workspace, todo, due date) it must notify, claimed with
 * FOR UPDATE SKIP LOCKED and a lease, and the tolerant conversions used when someone has changed
 * the types of the todos table by hand.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE delay_notifications.notifications (
      workspace_id uuid NOT NULL,
      todo_id uuid NOT NULL,
      due_date date NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      claimed_by uuid,
      claim_expires_at timestamptz,
      last_status integer,
      last_error text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      sent_at timestamptz,
      PRIMARY KEY (workspace_id, todo_id, due_date)
    )`
  yield* sql`
    CREATE INDEX notifications_claimable ON delay_notifications.notifications (next_attempt_at, due_date)
    WHERE state = 'pending'`
  yield* sql`CREATE INDEX notifications_dead ON delay_notifications.notifications (updated_at) WHERE state = 'dead'`
  yield* sql.unsafe(`
    CREATE FUNCTION delay_notifications.try_uuid(value text) RETURNS uuid
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
      RETURN value::uuid;
    EXCEPTION WHEN others THEN
      RETURN NULL;
    END $$`)
  yield* sql.unsafe(`
    CREATE FUNCTION delay_notifications.try_date(value text) RETURNS date
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
      IF value !~ '^\\d{4}-\\d{2}-\\d{2}$' THEN
        RETURN NULL;
      END IF;
      RETURN value::date;
    EXCEPTION WHEN others THEN
      RETURN NULL;
    END $$`)
})
