/**
 * The outcomes of a run's claims written back: each row in place in one statement (no index of the
 * ledger is on a column an outcome changes), and the batches settled after it: a claimed batch keeps
 * the todos its run has not recorded, and those pending again go on in a batch of their own.
 */
import { Duration, Effect } from "effect"
import { safeExcerpt } from "../../domain/ErrorText.js"
import type { DelayedTodo } from "../../domain/Todo.js"
import { failedTo } from "../DatabaseErrors.js"
import type { Outcome } from "../TodoRepository.js"
import { isDataException, keysOf as keysOfBatch, type Ledger } from "./Ledger.js"

/** The longest error text kept in the ledger. */
const storedErrorLength = 500

interface OutcomeRow {
  readonly i: number
  readonly workspace_id: string
  readonly todo_id: string
  readonly due_date: string
  readonly state: "sent" | "pending" | "dead"
  readonly attempts: number
  readonly retry_in_ms: number | undefined
  readonly last_status: number | null | undefined
  readonly last_error: string | undefined
}

/**
 * Every row has the same fields in the same order (undefined ones are left out of the JSON, NULL
 * to the statement): one object of one shape per outcome, where a spread of a shared base makes two
 * on a path taken once per notification.
 */
const row = (
  i: number,
  todo: DelayedTodo,
  state: OutcomeRow["state"],
  attempts: number,
  retryInMs?: number,
  lastStatus?: number | null,
  lastError?: string
): OutcomeRow => ({
  i,
  workspace_id: todo.workspaceId,
  todo_id: todo.id,
  due_date: todo.dueDate,
  state,
  attempts,
  retry_in_ms: retryInMs,
  last_status: lastStatus,
  last_error: lastError
})

const rowOf = (outcome: Outcome, i: number): OutcomeRow => {
  switch (outcome._tag) {
    case "Sent":
      return row(i, outcome.todo, "sent", outcome.todo.attempts + 1)
    case "Released":
      return outcome.retryIn === undefined
        ? row(i, outcome.todo, "pending", outcome.todo.attempts)
        : row(i, outcome.todo, "pending", outcome.todo.attempts, Math.round(Duration.toMillis(outcome.retryIn)))
    case "RetryLater":
      return row(
        i,
        outcome.todo,
        "pending",
        outcome.attempts,
        Math.round(Duration.toMillis(outcome.retryIn)),
        outcome.status ?? null,
        safeExcerpt(outcome.error, storedErrorLength)
      )
    case "DeadLetter":
      return row(
        i,
        outcome.todo,
        "dead",
        outcome.attempts,
        undefined,
        outcome.status ?? null,
        safeExcerpt(outcome.error, storedErrorLength)
      )
  }
}


export const makeOutcomes = (ledger: Ledger) => {
  const { batches, ledgerNow, sql, table, within } = ledger
  const keysOf = (b: string) => keysOfBatch(ledger, b)
  /**
   * One statement for the rows of the owner's batches, each in place (no index of the ledger is on
   * a column an outcome changes): the outcomes whose todo the owner's batches no longer held (a
   * row with `i` and no `batch`), and each row written with its batch.
   */
  const writeRows = (owner: string, rows: ReadonlyArray<OutcomeRow>) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql<{ readonly i: number; readonly batch: string | null }>`
        WITH u AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS u(
            i int, workspace_id uuid, todo_id uuid, due_date date, state text, attempts int,
            retry_in_ms bigint, last_status int, last_error text)
        ),
        held AS (
          SELECT b.id, k.ws, k.id AS todo, k.due FROM ${batches} b, ${keysOf("b")}
          WHERE b.claimed_by = ${owner}
          FOR UPDATE OF b
        ),
        written AS (
          UPDATE ${table} n SET
            state = u.state,
            attempts = u.attempts,
            next_attempt_at = CASE WHEN u.retry_in_ms IS NULL THEN n.next_attempt_at
                                   ELSE ${now} + u.retry_in_ms * interval '1 millisecond' END,
            last_status = CASE WHEN u.last_error IS NULL THEN n.last_status ELSE u.last_status END,
            last_error = coalesce(u.last_error, n.last_error),
            sent_at = CASE WHEN u.state = 'sent' THEN ${now} ELSE n.sent_at END,
            dead_since = CASE WHEN u.state = 'dead' THEN ${now} ELSE n.dead_since END,
            updated_at = ${now}
          FROM u JOIN held h ON h.ws = u.workspace_id AND h.todo = u.todo_id AND h.due = u.due_date
          WHERE n.workspace_id = u.workspace_id AND n.todo_id = u.todo_id AND n.due_date = u.due_date
          RETURNING u.i, h.id AS batch
        )
        SELECT u.i, NULL::text AS batch FROM u WHERE u.i NOT IN (SELECT i FROM written)
        UNION ALL SELECT w.i, w.batch::text FROM written w`)

  /**
   * After a write: each batch keeps the todos of its claim not yet recorded (none: it goes), and
   * the todos written that are pending again (to be tried again, or handed back) go on, unclaimed,
   * in one batch due at the first of them.
   */
  const settleBatches = (written: ReadonlyArray<{ readonly batch: string; readonly todo: DelayedTodo }>) =>
    sql`
      WITH w AS (
        SELECT * FROM jsonb_to_recordset(${
      JSON.stringify(written.map(({ batch, todo }) => ({ batch, workspace_id: todo.workspaceId, todo_id: todo.id, due_date: todo.dueDate })))
    }::jsonb) AS w(batch bigint, workspace_id uuid, todo_id uuid, due_date date)
      ),
      touched AS (
        SELECT b.id, k.ws, k.id AS todo, k.due, k.place FROM ${batches} b, ${keysOf("b")}
        WHERE b.id IN (SELECT batch FROM w)
      ),
      remaining AS (
        SELECT t.* FROM touched t
        WHERE NOT EXISTS (SELECT 1 FROM w WHERE w.batch = t.id AND w.workspace_id = t.ws AND w.todo_id = t.todo AND w.due_date = t.due)
      ),
      kept AS (
        UPDATE ${batches} b SET workspace_ids = r.ws, todo_ids = r.ids, due_dates = r.dues
        FROM (SELECT id, array_agg(ws ORDER BY place) AS ws, array_agg(todo ORDER BY place) AS ids, array_agg(due ORDER BY place) AS dues
              FROM remaining GROUP BY id) r
        WHERE b.id = r.id
        RETURNING 1
      ),
      emptied AS (
        DELETE FROM ${batches} b WHERE b.id IN (SELECT batch FROM w) AND b.id NOT IN (SELECT id FROM remaining)
        RETURNING 1
      )
      INSERT INTO ${batches} (next_attempt_at, fair_rank, oldest_due, workspace_ids, todo_ids, due_dates)
      SELECT min(n.next_attempt_at), min(n.fair_rank), min(n.due_date),
             array_agg(n.workspace_id ORDER BY n.next_attempt_at, n.due_date), array_agg(n.todo_id ORDER BY n.next_attempt_at, n.due_date),
             array_agg(n.due_date ORDER BY n.next_attempt_at, n.due_date)
      FROM w JOIN ${table} n ON n.workspace_id = w.workspace_id AND n.todo_id = w.todo_id AND n.due_date = w.due_date
      WHERE n.state = 'pending'
      HAVING count(*) > 0`

  /** The rows written and their batches settled, in one transaction; the indexes of the outcomes not held. */
  const writeAndSettle = (owner: string, outcomes: ReadonlyArray<Outcome>, rows: ReadonlyArray<OutcomeRow>) =>
    sql.withTransaction(Effect.gen(function*() {
      const result = yield* writeRows(owner, rows)
      const written = result.flatMap(({ batch, i }) => (batch === null ? [] : [{ batch, todo: outcomes[i]!.todo }]))
      if (written.length > 0) yield* settleBatches(written)
      return result.flatMap(({ batch, i }) => (batch === null ? [i] : []))
    }))

  /**
   * Should PostgreSQL refuse a value of one outcome (it never should: texts are made safe), the
   * rows are written one at a time and a refused one is written again without its error text, so
   * one bad outcome cannot lose the others.
   */
  const writeOneByOne = (owner: string, outcomes: ReadonlyArray<Outcome>, rows: ReadonlyArray<OutcomeRow>) =>
    Effect.map(
      Effect.forEach(rows, (one, at) =>
        writeAndSettle(owner, [outcomes[at]!], [{ ...one, i: 0 }]).pipe(
          Effect.catchIf(isDataException, () =>
            writeAndSettle(owner, [outcomes[at]!], [{ ...one, i: 0, last_error: "(the error text could not be stored)" }])),
          Effect.map((notHeld) => notHeld.map(() => at))
        )),
      (results) => results.flat()
    )

  const record = Effect.fn("TodoRepository.record")(
    function*(owner: string, outcomes: ReadonlyArray<Outcome>) {
      if (outcomes.length === 0) return { notHeld: [] }
      yield* Effect.annotateCurrentSpan("outcomes", outcomes.length)
      const rows = outcomes.map(rowOf)
      const missing = yield* writeAndSettle(owner, outcomes, rows).pipe(
        Effect.catchIf(isDataException, () => writeOneByOne(owner, outcomes, rows))
      )
      return { notHeld: missing.map((i) => outcomes[i]!) }
    },
    within.roundTrip,
    Effect.mapError(failedTo("Recording outcomes"))
  )

  return { record }
}
