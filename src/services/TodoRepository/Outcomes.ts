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
import { isDataException, keyArrays, keysOf as keysOfBatch, type Ledger, rowKeys } from "./Ledger.js"

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
   * One statement: the rows of the owner's batches written, each in place (no index of the ledger
   * is on a column an outcome changes), and their batches settled: a batch whose todos are all
   * written goes, one written in part keeps the others (its claim's todos not yet recorded), and
   * the todos pending again (to be tried again, or handed back) go on, unclaimed, in one batch due
   * at the first of them. Returns the indexes of the outcomes whose todo the owner's batches no
   * longer held: nothing was written of them.
   */
  const writeRows = (owner: string, rows: ReadonlyArray<OutcomeRow>) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql<{ readonly i: number }>`
        WITH u AS (
          SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json) AS u(
            i int, workspace_id uuid, todo_id uuid, due_date date, state text, attempts int,
            retry_in_ms bigint, last_status int, last_error text)
        ),
        -- Locked in the order of their ids, as a renewal locks them: the run's writes and its
        -- renewals run at once, on connections of their own, and must not deadlock.
        locked AS (
          SELECT id, workspace_ids, todo_ids, due_dates FROM ${batches}
          WHERE claimed_by = ${owner}
          ORDER BY id
          FOR UPDATE
        ),
        held AS (SELECT l.id, k.ws, k.id AS todo, k.due, k.place FROM locked l, ${keysOf("l")}),
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
          RETURNING u.i, h.id AS batch, n.workspace_id, n.todo_id, n.due_date, n.state, n.next_attempt_at, n.fair_rank
        ),
        counted AS (SELECT batch, count(*) AS n FROM written GROUP BY batch),
        done AS (
          DELETE FROM ${batches} b USING counted c
          WHERE b.id = c.batch AND cardinality(b.todo_ids) = c.n
          RETURNING 1
        ),
        kept AS (
          UPDATE ${batches} b SET workspace_ids = r.ws, todo_ids = r.ids, due_dates = r.dues
          FROM (
            SELECT h.id, ${keyArrays(sql, { ws: "h.ws", id: "h.todo", due: "h.due" }, sql`h.place`, true)}
            FROM held h JOIN counted c ON c.batch = h.id JOIN locked l ON l.id = h.id
            WHERE cardinality(l.todo_ids) > c.n AND NOT EXISTS (SELECT 1 FROM written w WHERE w.batch = h.id AND w.workspace_id = h.ws AND w.todo_id = h.todo AND w.due_date = h.due)
            GROUP BY h.id
          ) r
          WHERE b.id = r.id
          RETURNING 1
        ),
        back AS (
          INSERT INTO ${batches} (next_attempt_at, fair_rank, oldest_due, workspace_ids, todo_ids, due_dates)
          SELECT min(next_attempt_at), min(fair_rank), min(due_date), ${keyArrays(sql, rowKeys, sql`next_attempt_at, due_date`)}
          FROM written WHERE state = 'pending'
          HAVING count(*) > 0
          RETURNING 1
        )
        SELECT u.i FROM u WHERE u.i NOT IN (SELECT i FROM written)`)

  /**
   * Should PostgreSQL refuse a value of one outcome (it never should: texts are made safe), the
   * rows are written one at a time and a refused one is written again without its error text, so
   * one bad outcome cannot lose the others.
   */
  const writeOneByOne = (owner: string, rows: ReadonlyArray<OutcomeRow>) =>
    Effect.map(
      Effect.forEach(rows, (one, at) =>
        writeRows(owner, [one]).pipe(
          Effect.catchIf(isDataException, () => writeRows(owner, [{ ...one, last_error: "(the error text could not be stored)" }])),
          Effect.map((notHeld) => notHeld.map(() => at))
        )),
      (results) => results.flat()
    )

  const record = Effect.fn("TodoRepository.record")(
    function*(owner: string, outcomes: ReadonlyArray<Outcome>) {
      if (outcomes.length === 0) return { notHeld: [] }
      yield* Effect.annotateCurrentSpan("outcomes", outcomes.length)
      const rows = outcomes.map(rowOf)
      const missing = yield* writeRows(owner, rows).pipe(
        Effect.map((notHeld) => notHeld.map(({ i }) => i)),
        Effect.catchIf(isDataException, () => writeOneByOne(owner, rows))
      )
      return { notHeld: missing.map((i) => outcomes[i]!) }
    },
    within.roundTrip,
    Effect.mapError(failedTo("Recording outcomes"))
  )

  return { record }
}
