/**
 * The ledger's claims, by batches (migration 7): a claim of the batches ahead (their rows locked,
 * vanished todos dropped), what is left to claim, the state of the backlog, and a run's claims
 * renewed. Their outcomes are written back by Outcomes.ts.
 */
import { type Duration, Effect } from "effect"
import { CalendarDate, type ClaimedTodo, type DelayedTodo } from "../../domain/Todo.js"
import { failedTo } from "../DatabaseErrors.js"
import type { BacklogState, Claimed, ClaimRequest } from "../TodoRepository.js"
import { keyArrays, keysOf as keysOfBatch, type Ledger, rowKeys } from "./Ledger.js"
/**
 * The most batches one claim looks at: a batch holds a run's batch of todos, or fewer (what was
 * left of one, todos to try again), so a few fill a claim; the claim reads them through the
 * claimable index (a sort of every batch would read them all).
 */
export const batchesPerClaim = 16

export const makeClaims = (ledger: Ledger) => {
  const { batches, convert, interval, ledgerNow, sql, table, todos, todosShape, within } = ledger
  const keysOf = (b: string) => keysOfBatch(ledger, b)
  /** The columns of a batch's todos as a renewal names them. */
  const ownKeys = { ws: "ws", id: "todo", due: "due" }

  /**
   * One claim: the first batches whose todos are due and whose claim is free or lapsed, in the
   * claims' order, enough of them for `size` todos (their rows locked, SKIP LOCKED: another run's
   * claim passes them by). The first `size` todos due now, in order, are handed out, those whose
   * todo vanished dropped from the ledger; the first batch becomes the claim of exactly those,
   * and the batches' other pending todos go on, unclaimed, in one batch of their own. `again`: the
   * batches held nothing to hand out (their todos vanished, or not due yet): the caller claims
   * again.
   */
  const claimOne = (request: ClaimRequest) =>
    Effect.gen(function*() {
      const shape = yield* todosShape
      // Typed: a probe of the todos table's primary key per todo (LIMIT 1 in a lateral join: never
      // a hash of the whole table, which the planner may prefer for an EXISTS once it expects a
      // few hundred rows from the batches' unnested keys).
      // Converted: no index can answer, so the EXISTS is left to the planner (a hash of the table).
      const stillDue = shape === "typed"
        ? {
          join: sql`LEFT JOIN LATERAL (SELECT true AS found FROM ${todos} t
                WHERE t.id = c.todo_id AND t."workspaceId" = c.workspace_id AND t."dueDate" = c.due_date LIMIT 1) t ON true`,
          due: sql`t.found IS NOT NULL`
        }
        : {
          join: sql``,
          due: sql`EXISTS (SELECT 1 FROM ${todos} t WHERE ${convert.id} = c.todo_id
                AND ${convert.workspaceId} = c.workspace_id AND ${convert.dueDate} = c.due_date)`
        }
      const now = yield* ledgerNow
      // The size in the text, not a parameter: a run's claims are one statement, whose plan the
      // server keeps (a parameter there made it plan every claim anew).
      const size = sql.literal(String(Math.trunc(request.size)))
      const fair = request.order === "fair"
      const batchOrder = fair ? sql`fair_rank, next_attempt_at, id` : sql`next_attempt_at, oldest_due, id`
      const rowOrder = fair
        ? sql`fair_rank, next_attempt_at, due_date, workspace_id, todo_id`
        : sql`next_attempt_at, due_date, workspace_id, todo_id`
      const claimable = sql`next_attempt_at <= ${now}
            AND (claim_expires_at IS NULL OR claim_expires_at <= ${now})
            AND claimed_by IS DISTINCT FROM ${request.owner}`
      // The ledger's rows are read by their keys, and none is written by the claim: the batch's row
      // holds the claim. A batch whose todos are all handed out keeps its keys as they are (their
      // stored arrays are not written again). Typed, not decoded again: the ledger's uuid, date and
      // int columns hold nothing else (todos were decoded on their way in), and decoding each
      // claimed row showed in the profile of a run.
      const rows = yield* sql<ClaimedTodo | { readonly id: null; readonly attempts: number; readonly dueDate: string }>`
        WITH ahead AS (
          SELECT id, cardinality(todo_ids) AS n, sum(cardinality(todo_ids)) OVER (ORDER BY ${batchOrder}) - cardinality(todo_ids) AS before
          FROM (SELECT * FROM ${batches} WHERE ${claimable} ORDER BY ${batchOrder} LIMIT ${sql.literal(String(batchesPerClaim))}) x
        ),
        -- Whole batches, as many as fit the size (the first whatever its size): a claim splits a
        -- batch only when the first alone holds more.
        b AS (
          SELECT id, workspace_ids, todo_ids, due_dates FROM ${batches}
          WHERE id IN (SELECT id FROM ahead WHERE before = 0 OR before + n <= ${size}) AND ${claimable}
          ORDER BY ${batchOrder}
          FOR UPDATE SKIP LOCKED
        ),
        pending AS (
          SELECT p.*, row_number() OVER (ORDER BY p.next_attempt_at > ${now}, ${rowOrder}) AS rn
          FROM (
            SELECT n.*
            FROM b, ${keysOf("b")},
            -- Each row by its primary key (LIMIT 1: a probe per todo, never a scan of the whole
            -- ledger to hash, which the planner may prefer from its estimate of the unnested keys).
            LATERAL (
              SELECT n.ctid, n.workspace_id, n.todo_id, n.due_date, n.attempts, n.next_attempt_at, n.fair_rank
              FROM ${table} n
              WHERE n.workspace_id = k.ws AND n.todo_id = k.id AND n.due_date = k.due AND n.state = 'pending'
              LIMIT 1
            ) n
          ) p
        ),
        first AS (SELECT * FROM pending WHERE next_attempt_at <= ${now} AND rn <= ${size}),
        checked AS (SELECT c.*, ${stillDue.due} AS due FROM first c ${stillDue.join}),
        gone AS (
          DELETE FROM ${table} n USING checked c
          WHERE NOT c.due AND n.ctid = c.ctid
          RETURNING 1
        ),
        handed AS (SELECT * FROM checked WHERE due),
        rest AS (SELECT * FROM pending WHERE next_attempt_at > ${now} OR rn > ${size}),
        head AS (SELECT min(id) AS id, count(*) AS batches FROM b),
        whole AS (SELECT (SELECT batches FROM head) = 1 AND NOT EXISTS (SELECT 1 FROM rest)
                         AND (SELECT count(*) FROM checked) = (SELECT count(*) FROM handed) AS unchanged),
        taken AS (
          UPDATE ${batches} x SET
            workspace_ids = CASE WHEN (SELECT unchanged FROM whole) THEN x.workspace_ids
                                 ELSE (SELECT array_agg(workspace_id ORDER BY ${rowOrder}) FROM handed) END,
            todo_ids = CASE WHEN (SELECT unchanged FROM whole) THEN x.todo_ids
                            ELSE (SELECT array_agg(todo_id ORDER BY ${rowOrder}) FROM handed) END,
            due_dates = CASE WHEN (SELECT unchanged FROM whole) THEN x.due_dates
                             ELSE (SELECT array_agg(due_date ORDER BY ${rowOrder}) FROM handed) END,
            next_attempt_at = (SELECT min(next_attempt_at) FROM handed),
            oldest_due = (SELECT min(due_date) FROM handed),
            fair_rank = (SELECT min(fair_rank) FROM handed),
            claimed_by = ${request.owner}, claim_expires_at = ${now} + ${interval(request.lease)}
          FROM head WHERE x.id = head.id AND EXISTS (SELECT 1 FROM handed)
          RETURNING 1
        ),
        merged AS (
          DELETE FROM ${batches} x USING b
          WHERE x.id = b.id AND (x.id <> (SELECT id FROM head) OR NOT EXISTS (SELECT 1 FROM handed))
          RETURNING 1
        ),
        moved AS (
          INSERT INTO ${batches} (next_attempt_at, fair_rank, oldest_due, workspace_ids, todo_ids, due_dates)
          SELECT min(next_attempt_at), min(fair_rank), min(due_date), ${keyArrays(sql, rowKeys, rowOrder)}
          FROM rest HAVING count(*) > 0
          RETURNING 1
        )
        (SELECT c.todo_id::text AS id, c.workspace_id::text AS "workspaceId", c.due_date::text AS "dueDate", c.attempts
         FROM handed c ORDER BY ${rowOrder})
        UNION ALL
        SELECT NULL, NULL, CASE WHEN EXISTS (SELECT 1 FROM b) AND NOT EXISTS (SELECT 1 FROM handed) THEN 'again' END, count(*)::int
        FROM gone`
      const summary = rows.find((row) => row.id === null)
      const claimed = rows.filter((row): row is ClaimedTodo => row.id !== null)
      return { todos: claimed, dropped: summary?.attempts ?? 0, again: summary?.dueDate === "again" }
    })

  const claim = Effect.fn("TodoRepository.claim")(
    function*(request: ClaimRequest) {
      // Batches with no todo to hand out (all vanished, or not due yet) are not taken: what they
      // still hold waits in a batch due at its first todo's time, and the claim goes on at once
      // (none is the end).
      let dropped = 0
      while (true) {
        const one = yield* claimOne(request)
        dropped += one.dropped
        if (!one.again) return { todos: one.todos, dropped } satisfies Claimed
      }
    },
    within.roundTrip,
    Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Claiming delayed todos")(error)))
  )

  // The due and pending todos of the batches that are due and free.
  const leftToClaim = Effect.flatMap(ledgerNow, (now) =>
    sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM ${batches} b, ${keysOf("b")}
      JOIN ${table} n ON n.workspace_id = k.ws AND n.todo_id = k.id AND n.due_date = k.due
      WHERE b.next_attempt_at <= ${now} AND (b.claim_expires_at IS NULL OR b.claim_expires_at <= ${now})
        AND n.state = 'pending' AND n.next_attempt_at <= ${now}`).pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      within.roundTrip,
      Effect.mapError(failedTo("Counting the todos left to claim"))
    )

  // The batches hold every pending todo; the dead letters are read through their partial index.
  const backlogState = sql<{ readonly oldest: string | null; readonly dead: number }>`
    SELECT (SELECT min(oldest_due)::text FROM ${batches}) AS oldest,
           (SELECT count(*)::int FROM ${table} WHERE dead_since IS NOT NULL) AS dead`.pipe(
    Effect.map(([row]): BacklogState => ({
      oldestPendingDue: row?.oldest == null ? undefined : CalendarDate.make(row.oldest),
      deadLetters: row?.dead ?? 0
    })),
    within.roundTrip,
    Effect.mapError(failedTo("Reading the state of the backlog"))
  )

  /** Keys of todos as a JSON array, for jsonb_to_recordset(…) AS j(workspace_id uuid, todo_id uuid, due_date date). */
  const keysJson = (todos: ReadonlyArray<DelayedTodo>) =>
    JSON.stringify(todos.map((todo) => ({ workspace_id: todo.workspaceId, todo_id: todo.id, due_date: todo.dueDate })))

  /**
   * The owner's live claims on `todos` extended: a batch whose todos are all among them in place;
   * one that holds others too is split, those todos claimed anew in a batch of their own and the
   * others keeping their lease. Returns how many of `todos` the owner held.
   */
  const renew = Effect.fn("TodoRepository.renew")(
    function*(owner: string, lease: Duration.Duration, todos: ReadonlyArray<DelayedTodo>) {
      if (todos.length === 0) return 0
      const now = yield* ledgerNow
      const until = sql`${now} + ${interval(lease)}`
      const [renewed] = yield* sql<{ readonly n: number }>`
        WITH mine AS (
          -- Locked in the order of their ids, as the run's writes lock them (no deadlock between the two).
          SELECT id, workspace_ids, todo_ids, due_dates FROM ${batches}
          WHERE claimed_by = ${owner} AND claim_expires_at > ${now}
          ORDER BY id
          FOR UPDATE
        ),
        own AS (
          SELECT b.id, k.ws, k.id AS todo, k.due, k.place,
                 EXISTS (SELECT 1 FROM jsonb_to_recordset(${keysJson(todos)}::jsonb) AS j(workspace_id uuid, todo_id uuid, due_date date)
                         WHERE j.workspace_id = k.ws AND j.todo_id = k.id AND j.due_date = k.due) AS asked
          FROM mine b, ${keysOf("b")}
        ),
        whole AS (SELECT id FROM own GROUP BY id HAVING bool_and(asked)),
        part AS (SELECT id FROM own GROUP BY id HAVING bool_or(asked) AND NOT bool_and(asked)),
        extended AS (
          UPDATE ${batches} SET claim_expires_at = ${until} WHERE id IN (SELECT id FROM whole) RETURNING 1
        ),
        trimmed AS (
          UPDATE ${batches} b SET workspace_ids = r.ws, todo_ids = r.ids, due_dates = r.dues
          FROM (SELECT id, ${keyArrays(sql, ownKeys, sql`place`, true)}
                FROM own WHERE NOT asked AND id IN (SELECT id FROM part) GROUP BY id) r
          WHERE b.id = r.id
          RETURNING 1
        ),
        split AS (
          INSERT INTO ${batches} (next_attempt_at, fair_rank, oldest_due, claimed_by, claim_expires_at, workspace_ids, todo_ids, due_dates)
          SELECT ${now}, 0, min(due), ${owner}::uuid, ${until}, ${keyArrays(sql, ownKeys, sql`place`)}
          FROM own WHERE asked AND id IN (SELECT id FROM part) GROUP BY id
          RETURNING 1
        )
        SELECT count(*) FILTER (WHERE asked)::int AS n FROM own`
      return renewed?.n ?? 0
    },
    within.roundTrip,
    Effect.mapError(failedTo("Renewing claims"))
  )


  const answers = sql`SELECT 1`.pipe(within.roundTrip, Effect.asVoid, Effect.mapError(failedTo("Checking that the database answers")))

  return { answers, backlogState, claim, leftToClaim, renew }
}
