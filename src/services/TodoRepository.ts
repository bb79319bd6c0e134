import { SqlClient, type SqlError } from "@effect/sql"
import {
  Chunk,
  type ConfigError,
  Context,
  Data,
  DateTime,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  ParseResult,
  Schema,
  Stream
} from "effect"
import { safeExcerpt, safeText } from "../domain/ErrorText.js"
import { type CalendarDate, ClaimedTodo, DelayedTodo as DelayedTodoSchema } from "../domain/Todo.js"
import { describeCause } from "../lib/Errors.js"
import { regclassName, todosTableConfig } from "../lib/TodosTable.js"
import { latestMigrationId, ledgerSchema, migrationsTable } from "../migrations/index.js"
import { DatabaseError, failedTo, SchemaNotCurrent } from "./DatabaseErrors.js"

/** One row of the todos table that is not a valid delayed todo; reported with its key and skipped. */
export class UndecodableTodo extends Data.TaggedError("UndecodableTodo")<{
  readonly workspaceId: string
  readonly todoId: string
  readonly reason: string
}> {}

/** What happened to a claimed todo; written back in batches. */
export type Outcome =
  | { readonly _tag: "Sent"; readonly todo: ClaimedTodo }
  | {
    readonly _tag: "RetryLater"
    readonly todo: ClaimedTodo
    readonly attempts: number
    /** From the time of the write, by the ledger's clock (the database's). */
    readonly retryIn: Duration.Duration
    readonly status: number | undefined
    readonly error: string
  }
  | {
    readonly _tag: "DeadLetter"
    readonly todo: ClaimedTodo
    readonly attempts: number
    readonly status: number | undefined
    readonly error: string
  }
  /** Claimed but not tried (the run is stopping, or the claim ran short): pending again at once, no attempt counted. */
  | { readonly _tag: "Released"; readonly todo: ClaimedTodo }

export interface ClaimRequest {
  /** The run that claims; only it may record the outcome. It never takes a claim it already holds. */
  readonly owner: string
  readonly size: number
  /** How long the claim holds, from the ledger's clock; after that another run may take the todo over. */
  readonly lease: Duration.Duration
  /** Oldest first (the default), or round-robin over workspaces (one of each before a second of any). */
  readonly order: "oldest-first" | "fair"
}

export interface Claimed {
  readonly todos: ReadonlyArray<ClaimedTodo>
  /** Claimable rows whose todo no longer exists with that due date: dropped from the ledger, not returned. */
  readonly dropped: number
}

/**
 * A part of the todos table, as a range of its pages (PostgreSQL's blocks, read by a TID range
 * scan): a run enqueues the backlog part by part and claims as soon as the first is in, so the
 * first notification does not wait for the whole backlog. `to` undefined: to the end.
 */
export interface TablePart {
  readonly from: number
  readonly to: number | undefined
}

/** The whole table as one part. */
export const wholeTable: TablePart = { from: 0, to: undefined }

/**
 * Where the ledger's time comes from. `database`: PostgreSQL's now(), one clock for every worker,
 * so a pod whose clock is off cannot take over live claims (production). `clock`: Effect's Clock,
 * so tests can move it with TestClock.
 */
export type LedgerTime = "database" | "clock"

/**
 * The delayed todos and the job's record of them (the ledger): which were notified, which are
 * claimed by a run, which failed and when to try again.
 */
export class TodoRepository extends Context.Tag("app/TodoRepository")<TodoRepository, {
  /**
   * Adds every todo of `part` (default: the whole table) due on or before `reference` that the
   * ledger does not know yet; reports bad rows (of the whole table, with the part that starts it).
   */
  readonly enqueueDelayed: (
    reference: CalendarDate,
    part?: TablePart
  ) => Effect.Effect<{ readonly added: number; readonly undecodable: ReadonlyArray<UndecodableTodo> }, DatabaseError>
  /**
   * The todos table in parts, in page order: a small first part (so claims can start at once),
   * then the rest; the whole table as one part when it is small or not a plain table (a view, a
   * partitioned table).
   */
  readonly tableParts: Effect.Effect<ReadonlyArray<TablePart>, DatabaseError>
  /**
   * Claims up to `size` pending todos whose next try is due and whose claim is free or expired,
   * skipping rows other runs hold (FOR UPDATE SKIP LOCKED). A claimed todo that no longer exists
   * with that due date is dropped from the ledger instead of returned (and counted).
   */
  readonly claim: (request: ClaimRequest) => Effect.Effect<Claimed, DatabaseError>
  /** Pending todos whose next try is due and that no run holds: what is left to claim now. */
  readonly leftToClaim: Effect.Effect<number, DatabaseError>
  /** Extends every live claim of `owner` to `lease` from now; returns how many it held. */
  readonly renew: (owner: string, lease: Duration.Duration) => Effect.Effect<number, DatabaseError>
  /**
   * What a run would try now, read only (for --dry-run): todos due on or before `reference` that
   * the ledger does not know yet, and those it holds pending with their next try due and no live
   * claim; oldest first, read in pages.
   */
  readonly pending: (reference: CalendarDate) => Stream.Stream<ClaimedTodo, DatabaseError>
  /**
   * Writes outcomes of this owner's claims, in one statement. Returns the outcomes whose claim
   * the owner no longer held (another run took the todo over): nothing of them was written.
   */
  readonly record: (
    owner: string,
    outcomes: ReadonlyArray<Outcome>
  ) => Effect.Effect<{ readonly notHeld: ReadonlyArray<Outcome> }, DatabaseError>
}>() {
  /** The live repository on PostgreSQL, on the database's clock; checks at start that the job's schema is current. */
  static readonly layer: Layer.Layer<TodoRepository, DatabaseError | SchemaNotCurrent | ConfigError.ConfigError, SqlClient.SqlClient> =
    Layer.effect(TodoRepository, Effect.suspend(() => makeSql("database")))

  /** The live repository on Effect's Clock instead of the database's (tests under TestClock). */
  static readonly layerOnClock: Layer.Layer<TodoRepository, DatabaseError | SchemaNotCurrent | ConfigError.ConfigError, SqlClient.SqlClient> =
    Layer.effect(TodoRepository, Effect.suspend(() => makeSql("clock")))
}


const iso = (time: DateTime.Utc) => DateTime.formatIso(time)

const decodeTodo = Schema.decodeUnknownEither(DelayedTodoSchema)

/** Why a row of the todos table is not a delayed todo, on one line. */
const undecodable = (row: { readonly id: string; readonly workspaceId: string; readonly dueDate: string }) =>
  Either.match(decodeTodo(row), {
    onLeft: (error) =>
      new UndecodableTodo({
        workspaceId: safeExcerpt(row.workspaceId, 100),
        todoId: safeExcerpt(row.id, 100),
        reason: safeText(ParseResult.TreeFormatter.formatErrorSync(error))
      }),
    onRight: () =>
      new UndecodableTodo({ workspaceId: row.workspaceId, todoId: row.id, reason: "not readable by the database" })
  })

const decodeClaims = Schema.decodeUnknown(Schema.Array(ClaimedTodo))

/** A value PostgreSQL refused as data (SQLSTATE class 22: bad text, bad JSON, out of range). */
const isDataException = (error: SqlError.SqlError): boolean => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && code.startsWith("22")
}

/** The longest error text kept in the ledger. */
const storedErrorLength = 500

interface OutcomeRow {
  readonly i: number
  readonly workspace_id: string
  readonly todo_id: string
  readonly due_date: string
  readonly state: "sent" | "pending" | "dead"
  readonly attempts: number
  readonly retry_in_ms?: number
  readonly last_status?: number | null
  readonly last_error?: string
}

const rowOf = (outcome: Outcome, i: number): OutcomeRow => {
  const base = { i, workspace_id: outcome.todo.workspaceId, todo_id: outcome.todo.id, due_date: outcome.todo.dueDate }
  switch (outcome._tag) {
    case "Sent":
      return { ...base, state: "sent", attempts: outcome.todo.attempts + 1 }
    case "Released":
      return { ...base, state: "pending", attempts: outcome.todo.attempts }
    case "RetryLater":
      return {
        ...base,
        state: "pending",
        attempts: outcome.attempts,
        retry_in_ms: Math.round(Duration.toMillis(outcome.retryIn)),
        last_status: outcome.status ?? null,
        last_error: safeExcerpt(outcome.error, storedErrorLength)
      }
    case "DeadLetter":
      return {
        ...base,
        state: "dead",
        attempts: outcome.attempts,
        last_status: outcome.status ?? null,
        last_error: safeExcerpt(outcome.error, storedErrorLength)
      }
  }
}

const makeSql = (time: LedgerTime) => Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const schema = sql(ledgerSchema)
  const table = sql(`${ledgerSchema}.notifications`)
  const todosName = yield* todosTableConfig
  const todos = sql(todosName)
  /** The ledger's "now" in a statement: the database's, or Effect's Clock's (see LedgerTime). */
  const ledgerNow = time === "database"
    ? Effect.succeed(sql`now()`)
    : Effect.map(DateTime.now, (now) => sql`${iso(now)}::timestamptz`)
  const interval = (duration: Duration.Duration) => sql`(${Math.round(Duration.toMillis(duration))} * interval '1 millisecond')`

  const applied = yield* sql<{ readonly id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(migrationsTable)}`.pipe(
    Effect.map((rows) => rows[0]?.id ?? 0),
    // No migrations table yet: nothing applied.
    Effect.catchIf((error) => /does not exist/.test(describeCause(error)), () => Effect.succeed(0)),
    Effect.mapError(failedTo("Checking the job's schema"))
  )
  if (applied < latestMigrationId) return yield* new SchemaNotCurrent({ applied, expected: latestMigrationId })

  /**
   * The todos table as the todos service defines it (uuid, uuid, date) can hold no undecodable
   * row, so the job reads it directly. If someone changed a type by hand, every value goes
   * through the tolerant conversions and the rows they refuse are reported.
   */
  const todosShape = yield* Effect.cached(
    sql<{ readonly name: string; readonly type: string }>`
      SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
      FROM pg_attribute a
      WHERE a.attrelid = to_regclass(${regclassName(todosName)}) AND a.attnum > 0 AND NOT a.attisdropped
    `.pipe(
      Effect.mapError(failedTo(`Reading the shape of the todos table (${todosName})`)),
      Effect.flatMap((columns) => {
        const failed = (reason: string) => Effect.fail(failedTo(`Reading the shape of the todos table (${todosName})`)(new Error(reason)))
        if (columns.length === 0) return failed(`relation "${todosName}" does not exist`)
        const types = new Map(columns.map((c) => [c.name, c.type]))
        const missing = ["id", "workspaceId", "dueDate"].filter((name) => !types.has(name))
        if (missing.length > 0) return failed(`the todos table has no column ${missing.map((m) => `"${m}"`).join(", ")}`)
        return Effect.succeed(
          types.get("id") === "uuid" && types.get("workspaceId") === "uuid" && types.get("dueDate") === "date"
            ? ("typed" as const)
            : ("converted" as const)
        )
      })
    )
  )

  // In the tolerant mode values are compared as PostgreSQL's uuid and date types read them, so
  // another spelling of an id (upper case, braces) is the same todo.
  const convert = {
    workspaceId: sql`${schema}.try_uuid(t."workspaceId"::text)`,
    id: sql`${schema}.try_uuid(t.id::text)`,
    dueDate: sql`${schema}.try_date(t."dueDate"::text)`
  }

  /** The rows of a part of the todos table (all for the whole table). */
  const inPart = (part: TablePart) =>
    part.from === 0 && part.to === undefined
      ? sql`true`
      : part.to === undefined
      ? sql`t.ctid >= ${`(${part.from},0)`}::tid`
      : sql`t.ctid >= ${`(${part.from},0)`}::tid AND t.ctid < ${`(${part.to},0)`}::tid`

  /** The todos (of a part of the table) due on or before `reference`, as (ws, id, due). */
  const delayedSource = (shape: "typed" | "converted", reference: CalendarDate, part: TablePart = wholeTable) =>
    shape === "typed"
      ? sql`SELECT t."workspaceId" AS ws, t.id AS id, t."dueDate" AS due FROM ${todos} t
            WHERE ${inPart(part)} AND t."dueDate" <= ${reference}::date`
      : sql`SELECT * FROM (SELECT ${convert.workspaceId} AS ws, ${convert.id} AS id, ${convert.dueDate} AS due FROM ${todos} t
              WHERE ${inPart(part)}) v
            WHERE ws IS NOT NULL AND id IS NOT NULL AND due IS NOT NULL AND due <= ${reference}::date`

  /**
   * Two parts: the first 64 pages (half a megabyte, a few thousand todos), added in a moment so
   * the first notification goes out at once, then the rest in one statement, which PostgreSQL
   * anti-joins against the ledger in one pass (many small parts probed the ledger row by row:
   * a run with nothing new over 1,000,000 todos took 5.9 s in 47 parts, bench/RESULTS.md).
   */
  const firstPartPages = 64
  const tableParts = sql<{ readonly kind: string; readonly pages: number }>`
    SELECT c.relkind::text AS kind, (pg_relation_size(c.oid) / current_setting('block_size')::bigint)::int AS pages
    FROM pg_class c WHERE c.oid = to_regclass(${regclassName(todosName)})`.pipe(
    Effect.map((rows): ReadonlyArray<TablePart> => {
      const { kind, pages } = rows[0] ?? { kind: "", pages: 0 }
      return kind !== "r" || pages <= firstPartPages * 2
        ? [wholeTable]
        // The last part is open-ended: pages added since are read too.
        : [{ from: 0, to: firstPartPages }, { from: firstPartPages, to: undefined }]
    }),
    Effect.mapError(failedTo("Reading the size of the todos table"))
  )

  /** Rows added by one part from which the ledger's statistics are refreshed at once. */
  const analyzeAfter = 10_000
  const enqueueDelayed = (reference: CalendarDate, part: TablePart = wholeTable) =>
    Effect.gen(function*() {
      const shape = yield* todosShape
      const source = delayedSource(shape, reference, part)
      const now = yield* ledgerNow
      // Only todos the ledger does not know are ranked (the sort is over the new ones alone).
      const insert = sql<{ readonly added: number }>`
        WITH added AS (
          INSERT INTO ${table} (workspace_id, todo_id, due_date, fair_rank, next_attempt_at, created_at, updated_at)
          SELECT s.ws, s.id, s.due, row_number() OVER (PARTITION BY s.ws ORDER BY s.due, s.id), ${now}, ${now}, ${now}
          FROM (${source}) s
          WHERE NOT EXISTS (
            SELECT 1 FROM ${table} n WHERE n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
          )
          ON CONFLICT (workspace_id, todo_id, due_date) DO NOTHING
          RETURNING 1
        )
        SELECT count(*)::int AS added FROM added`
      // A large part makes the planner's statistics of the ledger stale until autovacuum runs
      // (minutes later): it then took the pending rows for a few and sorted all of them for every
      // claim (100 ms a claim at 200,000 todos, the bottleneck of a run). ANALYZE in the same
      // transaction: the first claim that sees the part plans with its rows counted.
      const [inserted] = yield* sql.withTransaction(Effect.tap(insert, ([row]) =>
        (row?.added ?? 0) >= analyzeAfter ? sql`ANALYZE ${table}` : Effect.void
      ))
      // A row is reported only when it may be due: its due date is unreadable, or due and its ids are not.
      const rejected = shape === "typed" || part.from > 0 ? [] : yield* sql<{ id: string; workspaceId: string; dueDate: string }>`
        SELECT t.id::text AS id, t."workspaceId"::text AS "workspaceId", t."dueDate"::text AS "dueDate" FROM ${todos} t
        WHERE ${convert.dueDate} IS NULL
           OR (${convert.dueDate} <= ${reference}::date AND (${convert.workspaceId} IS NULL OR ${convert.id} IS NULL))
        LIMIT 1000`
      return { added: inserted?.added ?? 0, undecodable: rejected.map(undecodable) }
    }).pipe(
      Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Reading delayed todos")(error))),
      Effect.withSpan("TodoRepository.enqueueDelayed")
    )

  const claim = (request: ClaimRequest) =>
    Effect.gen(function*() {
      const shape = yield* todosShape
      const stillDue = shape === "typed"
        ? sql`EXISTS (SELECT 1 FROM ${todos} t WHERE t.id = c.todo_id AND t."workspaceId" = c.workspace_id AND t."dueDate" = c.due_date)`
        : sql`EXISTS (SELECT 1 FROM ${todos} t WHERE ${convert.id} = c.todo_id
                AND ${convert.workspaceId} = c.workspace_id AND ${convert.dueDate} = c.due_date)`
      const now = yield* ledgerNow
      // Typed, not decoded again: the ledger's uuid, date and int columns hold nothing else (todos
      // were decoded on their way in), and decoding each claimed row showed in the profile of a run.
      const rows = yield* sql<ClaimedTodo | { readonly id: null; readonly attempts: number }>`
        WITH candidates AS (
          SELECT workspace_id, todo_id, due_date FROM ${table}
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
          WHERE NOT c.due AND n.workspace_id = c.workspace_id AND n.todo_id = c.todo_id AND n.due_date = c.due_date
          RETURNING 1
        ),
        claimed AS (
          UPDATE ${table} n
          SET claimed_by = ${request.owner}, claim_expires_at = ${now} + ${interval(request.lease)}, updated_at = ${now}
          FROM checked c
          WHERE c.due AND n.workspace_id = c.workspace_id AND n.todo_id = c.todo_id AND n.due_date = c.due_date
          RETURNING n.todo_id::text AS id, n.workspace_id::text AS "workspaceId", n.due_date::text AS "dueDate", n.attempts
        )
        SELECT * FROM claimed
        UNION ALL SELECT NULL, NULL, NULL, count(*)::int FROM gone`
      const droppedRow = rows.find((row) => row.id === null)
      const claimed = rows.filter((row): row is ClaimedTodo => row.id !== null)
      return { todos: claimed, dropped: droppedRow?.attempts ?? 0 } satisfies Claimed
    }).pipe(
      Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Claiming delayed todos")(error))),
      Effect.withSpan("TodoRepository.claim")
    )

  const leftToClaim = Effect.flatMap(ledgerNow, (now) =>
    sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM ${table}
      WHERE state = 'pending' AND next_attempt_at <= ${now} AND (claim_expires_at IS NULL OR claim_expires_at <= ${now})`).pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      Effect.mapError(failedTo("Counting the todos left to claim"))
    )

  const renew = (owner: string, lease: Duration.Duration) =>
    Effect.flatMap(ledgerNow, (now) =>
      sql<{ readonly n: number }>`
        WITH renewed AS (
          UPDATE ${table} SET claim_expires_at = ${now} + ${interval(lease)}
          WHERE claimed_by = ${owner} AND state = 'pending' AND claim_expires_at > ${now}
          RETURNING 1
        )
        SELECT count(*)::int AS n FROM renewed`).pipe(
        Effect.map((rows) => rows[0]?.n ?? 0),
        Effect.mapError(failedTo("Renewing claims")),
        Effect.withSpan("TodoRepository.renew")
      )

  const pagesOf = 1000
  const pending = (reference: CalendarDate) =>
    Stream.paginateChunkEffect(
      undefined as { readonly dueDate: string; readonly workspaceId: string; readonly id: string } | undefined,
      (after) =>
        Effect.gen(function*() {
          const source = delayedSource(yield* todosShape, reference)
          const now = yield* ledgerNow
          const rows = yield* sql`
            SELECT s.id::text AS id, s.ws::text AS "workspaceId", s.due::text AS "dueDate", coalesce(n.attempts, 0) AS attempts
            FROM (${source}) s
            LEFT JOIN ${table} n ON n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
            WHERE (n.todo_id IS NULL OR (n.state = 'pending' AND n.next_attempt_at <= ${now}
                   AND (n.claim_expires_at IS NULL OR n.claim_expires_at <= ${now})))
              ${after === undefined ? sql`` : sql`AND (s.due, s.ws, s.id) > (${after.dueDate}::date, ${after.workspaceId}::uuid, ${after.id}::uuid)`}
            ORDER BY s.due, s.ws, s.id
            LIMIT ${pagesOf}`
          const todos = yield* decodeClaims(rows).pipe(Effect.orDie)
          const last = todos.at(-1)
          return [
            Chunk.unsafeFromArray(todos),
            todos.length < pagesOf || last === undefined ? Option.none() : Option.some(last)
          ] as const
        }).pipe(
          Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Reading delayed todos")(error))),
          Effect.withSpan("TodoRepository.pending")
        )
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
      Effect.forEach(rows, (row) =>
        writeRows(owner, [row]).pipe(
          Effect.catchIf(isDataException, () =>
            writeRows(owner, [{ ...row, last_error: "(the error text could not be stored)" }]))
        )),
      (results) => results.flat()
    )

  const record = (owner: string, outcomes: ReadonlyArray<Outcome>) => {
    if (outcomes.length === 0) return Effect.succeed({ notHeld: [] })
    const rows = outcomes.map(rowOf)
    return writeRows(owner, rows).pipe(
      Effect.catchIf(isDataException, () => writeOneByOne(owner, rows)),
      Effect.map((missing) => ({ notHeld: missing.map(({ i }) => outcomes[i]!) })),
      Effect.mapError(failedTo("Recording outcomes")),
      Effect.withSpan("TodoRepository.record", { attributes: { outcomes: outcomes.length } })
    )
  }

  return TodoRepository.of({ enqueueDelayed, tableParts, claim, leftToClaim, renew, pending, record })
})
