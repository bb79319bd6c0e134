/**
 * The ledger's claims: a batch claimed (its rows locked, vanished todos dropped), what is left to
 * claim, a run's claims renewed, and a batch's outcomes written back in one statement.
 */
import { Duration, Effect } from "effect"
import { safeExcerpt } from "../../domain/ErrorText.js"
import { CalendarDate, type ClaimedTodo, type DelayedTodo } from "../../domain/Todo.js"
import { failedTo } from "../DatabaseErrors.js"
import type { BacklogState, Claimed, ClaimRequest, Outcome } from "../TodoRepository.js"
import { isDataException, type Ledger } from "./Ledger.js"

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

export const makeClaims = ({ convert, interval, ledgerNow, sql, table, todos, todosShape, within }: Ledger) => {
  const claim = Effect.fn("TodoRepository.claim")(
    function*(request: ClaimRequest) {
      const shape = yield* todosShape
      const stillDue = shape === "typed"
        ? sql`EXISTS (SELECT 1 FROM ${todos} t WHERE t.id = c.todo_id AND t."workspaceId" = c.workspace_id AND t."dueDate" = c.due_date)`
        : sql`EXISTS (SELECT 1 FROM ${todos} t WHERE ${convert.id} = c.todo_id
                AND ${convert.workspaceId} = c.workspace_id AND ${convert.dueDate} = c.due_date)`
      const now = yield* ledgerNow
      // The locked rows are found again by their place (ctid: they cannot move while locked), not
      // through the primary key. Only the claim's columns change, none indexed: PostgreSQL updates
      // the rows in place (migration 4); updated_at is the time of the last outcome, not of a claim.
      // Typed, not decoded again: the ledger's uuid, date and int columns hold nothing else (todos
      // were decoded on their way in), and decoding each claimed row showed in the profile of a run.
      const rows = yield* sql<ClaimedTodo | { readonly id: null; readonly attempts: number }>`
        WITH candidates AS (
          SELECT ctid, workspace_id, todo_id, due_date FROM ${table}
          WHERE state = 'pending' AND next_attempt_at <= ${now}
            AND (claim_expires_at IS NULL OR claim_expires_at <= ${now})
            AND claimed_by IS DISTINCT FROM ${request.owner}
          ORDER BY ${request.order === "fair" ? sql`fair_rank, next_attempt_at, due_date` : sql`next_attempt_at, due_date`}
          LIMIT ${request.size}
          FOR UPDATE SKIP LOCKED
        ),
        checked AS (SELECT c.*, ${stillDue} AS due FROM candidates c),
        gone AS (
          DELETE FROM ${table} n USING checked c
          WHERE NOT c.due AND n.ctid = c.ctid
          RETURNING 1
        ),
        claimed AS (
          UPDATE ${table} n
          SET claimed_by = ${request.owner}, claim_expires_at = ${now} + ${interval(request.lease)}
          FROM checked c
          WHERE c.due AND n.ctid = c.ctid
          RETURNING n.todo_id::text AS id, n.workspace_id::text AS "workspaceId", n.due_date::text AS "dueDate", n.attempts
        )
        SELECT * FROM claimed
        UNION ALL SELECT NULL, NULL, NULL, count(*)::int FROM gone`
      const droppedRow = rows.find((row) => row.id === null)
      const claimed = rows.filter((row): row is ClaimedTodo => row.id !== null)
      return { todos: claimed, dropped: droppedRow?.attempts ?? 0 } satisfies Claimed
    },
    within.roundTrip,
    Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Claiming delayed todos")(error)))
  )

  const leftToClaim = Effect.flatMap(ledgerNow, (now) =>
    sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM ${table}
      WHERE state = 'pending' AND next_attempt_at <= ${now} AND (claim_expires_at IS NULL OR claim_expires_at <= ${now})`).pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      within.roundTrip,
      Effect.mapError(failedTo("Counting the todos left to claim"))
    )

  // Both through the ledger's partial indexes (pending rows, dead rows): a few rows, not the ledger.
  const backlogState = sql<{ readonly oldest: string | null; readonly dead: number }>`
    SELECT (SELECT min(due_date)::text FROM ${table} WHERE state = 'pending') AS oldest,
           (SELECT count(*)::int FROM ${table} WHERE state = 'dead') AS dead`.pipe(
    Effect.map(([row]): BacklogState => ({
      oldestPendingDue: row?.oldest == null ? undefined : CalendarDate.make(row.oldest),
      deadLetters: row?.dead ?? 0
    })),
    within.roundTrip,
    Effect.mapError(failedTo("Reading the state of the backlog"))
  )

  const renew = Effect.fn("TodoRepository.renew")(
    function*(owner: string, lease: Duration.Duration, todos: ReadonlyArray<DelayedTodo>) {
      if (todos.length === 0) return 0
      const now = yield* ledgerNow
      const keys = todos.map((todo) => ({ workspace_id: todo.workspaceId, todo_id: todo.id, due_date: todo.dueDate }))
      const [renewed] = yield* sql<{ readonly n: number }>`
        WITH renewed AS (
          UPDATE ${table} n SET claim_expires_at = ${now} + ${interval(lease)}
          FROM jsonb_to_recordset(${JSON.stringify(keys)}::jsonb) AS k(workspace_id uuid, todo_id uuid, due_date date)
          WHERE n.workspace_id = k.workspace_id AND n.todo_id = k.todo_id AND n.due_date = k.due_date
            AND n.claimed_by = ${owner} AND n.state = 'pending' AND n.claim_expires_at > ${now}
          RETURNING 1
        )
        SELECT count(*)::int AS n FROM renewed`
      return renewed?.n ?? 0
    },
    within.roundTrip,
    Effect.mapError(failedTo("Renewing claims"))
  )

  /** One statement for the rows; returns the indexes of those whose claim the owner no longer held. */
  const writeRows = (owner: string, rows: ReadonlyArray<OutcomeRow>) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql<{ readonly i: number }>`
        WITH u AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS u(
            i int, workspace_id uuid, todo_id uuid, due_date date, state text, attempts int,
            retry_in_ms bigint, last_status int, last_error text)
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
            claimed_by = NULL, claim_expires_at = NULL, updated_at = ${now}
          FROM u
          WHERE n.workspace_id = u.workspace_id AND n.todo_id = u.todo_id AND n.due_date = u.due_date
            AND n.claimed_by = ${owner}
          RETURNING u.i
        )
        SELECT u.i FROM u WHERE u.i NOT IN (SELECT i FROM written)`)

  /**
   * Should PostgreSQL refuse a value of one outcome (it never should: texts are made safe), the
   * rows are written one at a time and a refused one is written again without its error text, so
   * one bad outcome cannot lose the others.
   */
  const writeOneByOne = (owner: string, rows: ReadonlyArray<OutcomeRow>) =>
    Effect.map(
      Effect.forEach(rows, (one) =>
        writeRows(owner, [one]).pipe(
          Effect.catchIf(isDataException, () =>
            writeRows(owner, [{ ...one, last_error: "(the error text could not be stored)" }]))
        )),
      (results) => results.flat()
    )

  const record = Effect.fn("TodoRepository.record")(
    function*(owner: string, outcomes: ReadonlyArray<Outcome>) {
      if (outcomes.length === 0) return { notHeld: [] }
      yield* Effect.annotateCurrentSpan("outcomes", outcomes.length)
      const rows = outcomes.map(rowOf)
      const missing = yield* writeRows(owner, rows).pipe(Effect.catchIf(isDataException, () => writeOneByOne(owner, rows)))
      return { notHeld: missing.map(({ i }) => outcomes[i]!) }
    },
    within.roundTrip,
    Effect.mapError(failedTo("Recording outcomes"))
  )

  const answers = sql`SELECT 1`.pipe(within.roundTrip, Effect.asVoid, Effect.mapError(failedTo("Checking that the database answers")))

  return { answers, backlogState, claim, leftToClaim, renew, record }
}
