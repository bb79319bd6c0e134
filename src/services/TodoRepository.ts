import { SqlClient } from "@effect/sql"
import { Chunk, Context, Data, DateTime, Effect, Either, Layer, Option, ParseResult, Schema, Stream } from "effect"
import { type CalendarDate, ClaimedTodo, type DelayedTodo, DelayedTodo as DelayedTodoSchema, isDelayed } from "../domain/Todo.js"
import { describeCause } from "../lib/Errors.js"
import { latestMigrationId, ledgerSchema, migrationsTable } from "../migrations/index.js"

/** The database could not be reached or a query failed: the run cannot go on. */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `${this.operation} failed: ${describeCause(this.cause)}`
  }
}

/** The job's own tables are missing or older than this code: `migrate` must run first. */
export class SchemaNotCurrent extends Schema.TaggedError<SchemaNotCurrent>()("SchemaNotCurrent", {
  applied: Schema.Number,
  expected: Schema.Number
}) {
  override get message(): string {
    return `The job's database schema is not current (migration ${this.applied} of ${this.expected} applied): ` +
      "run `delay-notifications migrate` first"
  }
}

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
    readonly nextAttemptAt: DateTime.Utc
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
  /** Claimed but not tried (the run is stopping): pending again at once, no attempt counted. */
  | { readonly _tag: "Released"; readonly todo: ClaimedTodo }

export interface ClaimRequest {
  /** The run that claims; only it may record the outcome. */
  readonly owner: string
  readonly size: number
  /** Until when the claim holds; after that another run may take the todo over. */
  readonly leaseUntil: DateTime.Utc
  readonly now: DateTime.Utc
  /** Oldest first (the default), or round-robin over workspaces (one of each before a second of any). */
  readonly order: "oldest-first" | "fair"
}

/**
 * The delayed todos and the job's record of them (the ledger): which were notified, which are
 * claimed by a run, which failed and when to try again.
 */
export class TodoRepository extends Context.Tag("app/TodoRepository")<TodoRepository, {
  /** Adds every todo due on or before `reference` that the ledger does not know yet; reports bad rows. */
  readonly enqueueDelayed: (
    reference: CalendarDate,
    now: DateTime.Utc
  ) => Effect.Effect<{ readonly added: number; readonly undecodable: ReadonlyArray<UndecodableTodo> }, DatabaseError>
  /**
   * Claims up to `size` pending todos whose next try is due and whose claim is free or expired,
   * skipping rows other runs hold (FOR UPDATE SKIP LOCKED). A claimed todo that no longer exists
   * with that due date is dropped from the ledger instead of returned.
   */
  readonly claim: (request: ClaimRequest) => Effect.Effect<ReadonlyArray<ClaimedTodo>, DatabaseError>
  /**
   * What a run would try now, read only (for --dry-run): todos due on or before `reference` that
   * the ledger does not know yet, and those it holds pending with their next try due and no live
   * claim; oldest first, read in pages.
   */
  readonly pending: (reference: CalendarDate, now: DateTime.Utc) => Stream.Stream<ClaimedTodo, DatabaseError>
  /** Writes outcomes of this owner's claims, all in one statement. */
  readonly record: (
    owner: string,
    outcomes: ReadonlyArray<Outcome>,
    now: DateTime.Utc
  ) => Effect.Effect<void, DatabaseError>
}>() {
  /** The live repository on PostgreSQL; checks at start that the job's schema is current. */
  static readonly layer: Layer.Layer<TodoRepository, DatabaseError | SchemaNotCurrent, SqlClient.SqlClient> = Layer
    .effect(TodoRepository, Effect.suspend(() => makeSql))

  /** An in-memory ledger over the given todos, with the same rules, for tests. */
  static readonly fromTodos = (todos: ReadonlyArray<DelayedTodo>): Layer.Layer<TodoRepository> =>
    Layer.sync(TodoRepository, () => makeInMemory(todos))

  /** A repository whose database is down, for tests. */
  static readonly failing = (cause: unknown): Layer.Layer<TodoRepository> =>
    Layer.succeed(TodoRepository, {
      enqueueDelayed: () => Effect.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
      claim: () => Effect.fail(new DatabaseError({ operation: "Claiming delayed todos", cause })),
      pending: () => Stream.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
      record: () => Effect.fail(new DatabaseError({ operation: "Recording outcomes", cause }))
    })
}

const keyOf = (todo: Pick<DelayedTodo, "workspaceId" | "id" | "dueDate">) => `${todo.workspaceId}/${todo.id}/${todo.dueDate}`

const iso = (time: DateTime.Utc) => DateTime.formatIso(time)

const decodeTodo = Schema.decodeUnknownEither(DelayedTodoSchema)

/** Why a row of the todos table is not a delayed todo, on one line. */
const undecodable = (row: { readonly id: string; readonly workspaceId: string; readonly dueDate: string }) =>
  Either.match(decodeTodo(row), {
    onLeft: (error) =>
      new UndecodableTodo({
        workspaceId: row.workspaceId,
        todoId: row.id,
        reason: ParseResult.TreeFormatter.formatErrorSync(error).replace(/\s+/g, " ")
      }),
    onRight: () =>
      new UndecodableTodo({ workspaceId: row.workspaceId, todoId: row.id, reason: "not readable by the database" })
  })

const decodeClaims = Schema.decodeUnknown(Schema.Array(ClaimedTodo))

const makeSql = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const schema = sql(ledgerSchema)
  const table = sql(`${ledgerSchema}.notifications`)
  const fail = (operation: string) => (cause: unknown) => new DatabaseError({ operation, cause })

  const applied = yield* sql<{ readonly id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(migrationsTable)}`.pipe(
    Effect.map((rows) => rows[0]?.id ?? 0),
    // No migrations table yet: nothing applied.
    Effect.catchIf((error) => /does not exist/.test(describeCause(error)), () => Effect.succeed(0)),
    Effect.mapError(fail("Checking the job's schema"))
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
      WHERE a.attrelid = to_regclass('todos') AND a.attnum > 0 AND NOT a.attisdropped
    `.pipe(
      Effect.mapError(fail("Reading the shape of the todos table")),
      Effect.flatMap((columns) => {
        if (columns.length === 0) {
          return Effect.fail(fail("Reading the shape of the todos table")(new Error(`relation "todos" does not exist`)))
        }
        const types = new Map(columns.map((c) => [c.name, c.type]))
        const missing = ["id", "workspaceId", "dueDate"].filter((name) => !types.has(name))
        if (missing.length > 0) {
          return Effect.fail(
            fail("Reading the shape of the todos table")(
              new Error(`the todos table has no column ${missing.map((m) => `"${m}"`).join(", ")}`)
            )
          )
        }
        return Effect.succeed(
          types.get("id") === "uuid" && types.get("workspaceId") === "uuid" && types.get("dueDate") === "date"
            ? ("typed" as const)
            : ("converted" as const)
        )
      })
    )
  )

  const convert = {
    workspaceId: sql`${schema}.try_uuid(t."workspaceId"::text)`,
    id: sql`${schema}.try_uuid(t.id::text)`,
    dueDate: sql`${schema}.try_date(t."dueDate"::text)`
  }

  /** The todos due on or before `reference`, as (ws, id, due). */
  const delayedSource = (shape: "typed" | "converted", reference: CalendarDate) =>
    shape === "typed"
      ? sql`SELECT t."workspaceId" AS ws, t.id AS id, t."dueDate" AS due FROM todos t WHERE t."dueDate" <= ${reference}::date`
      : sql`SELECT * FROM (SELECT ${convert.workspaceId} AS ws, ${convert.id} AS id, ${convert.dueDate} AS due FROM todos t) v
            WHERE ws IS NOT NULL AND id IS NOT NULL AND due IS NOT NULL AND due <= ${reference}::date`

  const enqueueDelayed = (reference: CalendarDate, now: DateTime.Utc) =>
    Effect.gen(function*() {
      const shape = yield* todosShape
      const source = delayedSource(shape, reference)
      // Only todos the ledger does not know are ranked (the sort is over the new ones alone).
      const [inserted] = yield* sql<{ readonly added: number }>`
        WITH added AS (
          INSERT INTO ${table} (workspace_id, todo_id, due_date, fair_rank, next_attempt_at, created_at, updated_at)
          SELECT s.ws, s.id, s.due, row_number() OVER (PARTITION BY s.ws ORDER BY s.due, s.id),
                 ${iso(now)}, ${iso(now)}, ${iso(now)}
          FROM (${source}) s
          WHERE NOT EXISTS (
            SELECT 1 FROM ${table} n WHERE n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
          )
          ON CONFLICT (workspace_id, todo_id, due_date) DO NOTHING
          RETURNING 1
        )
        SELECT count(*)::int AS added FROM added`
      const rejected = shape === "typed" ? [] : yield* sql<{ id: string; workspaceId: string; dueDate: string }>`
        SELECT t.id::text AS id, t."workspaceId"::text AS "workspaceId", t."dueDate"::text AS "dueDate" FROM todos t
        WHERE ${convert.workspaceId} IS NULL OR ${convert.id} IS NULL OR ${convert.dueDate} IS NULL
        LIMIT 1000`
      return { added: inserted?.added ?? 0, undecodable: rejected.map(undecodable) }
    }).pipe(
      Effect.catchTag("SqlError", (error) => Effect.fail(fail("Reading delayed todos")(error))),
      Effect.withSpan("TodoRepository.enqueueDelayed")
    )

  const claim = (request: ClaimRequest) =>
    Effect.gen(function*() {
      const shape = yield* todosShape
      const stillDue = shape === "typed"
        ? sql`EXISTS (SELECT 1 FROM todos t WHERE t.id = c.todo_id AND t."workspaceId" = c.workspace_id AND t."dueDate" = c.due_date)`
        : sql`EXISTS (SELECT 1 FROM todos t WHERE t.id::text = c.todo_id::text
                AND t."workspaceId"::text = c.workspace_id::text AND t."dueDate"::text = c.due_date::text)`
      const now = iso(request.now)
      const rows = yield* sql`
        WITH candidates AS (
          SELECT workspace_id, todo_id, due_date FROM ${table}
          WHERE state = 'pending' AND next_attempt_at <= ${now}
            AND (claim_expires_at IS NULL OR claim_expires_at <= ${now})
          ORDER BY ${request.order === "fair" ? sql`fair_rank, next_attempt_at, due_date` : sql`next_attempt_at, due_date`}
          LIMIT ${request.size}
          FOR UPDATE SKIP LOCKED
        ),
        checked AS (SELECT c.*, ${stillDue} AS due FROM candidates c),
        gone AS (
          DELETE FROM ${table} n USING checked c
          WHERE NOT c.due AND n.workspace_id = c.workspace_id AND n.todo_id = c.todo_id AND n.due_date = c.due_date
        )
        UPDATE ${table} n
        SET claimed_by = ${request.owner}, claim_expires_at = ${iso(request.leaseUntil)}, updated_at = ${now}
        FROM checked c
        WHERE c.due AND n.workspace_id = c.workspace_id AND n.todo_id = c.todo_id AND n.due_date = c.due_date
        RETURNING n.todo_id::text AS id, n.workspace_id::text AS "workspaceId", n.due_date::text AS "dueDate", n.attempts`
      return yield* decodeClaims(rows).pipe(Effect.orDie)
    }).pipe(
      Effect.catchTag("SqlError", (error) => Effect.fail(fail("Claiming delayed todos")(error))),
      Effect.withSpan("TodoRepository.claim")
    )

  const pagesOf = 1000
  const pending = (reference: CalendarDate, now: DateTime.Utc) =>
    Stream.paginateChunkEffect(
      undefined as { readonly dueDate: string; readonly workspaceId: string; readonly id: string } | undefined,
      (after) =>
        Effect.gen(function*() {
          const source = delayedSource(yield* todosShape, reference)
          const rows = yield* sql`
            SELECT s.id::text AS id, s.ws::text AS "workspaceId", s.due::text AS "dueDate", coalesce(n.attempts, 0) AS attempts
            FROM (${source}) s
            LEFT JOIN ${table} n ON n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
            WHERE (n.todo_id IS NULL OR (n.state = 'pending' AND n.next_attempt_at <= ${iso(now)}
                   AND (n.claim_expires_at IS NULL OR n.claim_expires_at <= ${iso(now)})))
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
          Effect.catchTag("SqlError", (error) => Effect.fail(fail("Reading delayed todos")(error))),
          Effect.withSpan("TodoRepository.pending")
        )
    )

  const record = (owner: string, outcomes: ReadonlyArray<Outcome>, now: DateTime.Utc) => {
    if (outcomes.length === 0) return Effect.void
    const rows = outcomes.map((outcome) => {
      const base = { workspace_id: outcome.todo.workspaceId, todo_id: outcome.todo.id, due_date: outcome.todo.dueDate }
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
            next_attempt_at: iso(outcome.nextAttemptAt),
            last_status: outcome.status ?? null,
            last_error: outcome.error
          }
        case "DeadLetter":
          return {
            ...base,
            state: "dead",
            attempts: outcome.attempts,
            last_status: outcome.status ?? null,
            last_error: outcome.error
          }
      }
    })
    return sql`
      UPDATE ${table} n SET
        state = u.state,
        attempts = u.attempts,
        next_attempt_at = coalesce(u.next_attempt_at, n.next_attempt_at),
        last_status = CASE WHEN u.last_error IS NULL THEN n.last_status ELSE u.last_status END,
        last_error = coalesce(u.last_error, n.last_error),
        sent_at = CASE WHEN u.state = 'sent' THEN ${iso(now)}::timestamptz ELSE n.sent_at END,
        claimed_by = NULL, claim_expires_at = NULL, updated_at = ${iso(now)}
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS u(
        workspace_id uuid, todo_id uuid, due_date date, state text, attempts int,
        next_attempt_at timestamptz, last_status int, last_error text)
      WHERE n.workspace_id = u.workspace_id AND n.todo_id = u.todo_id AND n.due_date = u.due_date
        AND n.claimed_by = ${owner}`.pipe(
      Effect.asVoid,
      Effect.mapError(fail("Recording outcomes")),
      Effect.withSpan("TodoRepository.record", { attributes: { outcomes: outcomes.length } })
    )
  }

  return TodoRepository.of({ enqueueDelayed, claim, pending, record })
})

interface LedgerRow {
  readonly todo: DelayedTodo
  state: "pending" | "sent" | "dead"
  readonly fairRank: number
  attempts: number
  nextAttemptAt: number
  claimedBy: string | undefined
  claimExpiresAt: number
}

/** The same rules as the SQL ledger, over an array, for tests of the use case. */
const makeInMemory = (todos: ReadonlyArray<DelayedTodo>) => {
  const ledger = new Map<string, LedgerRow>()
  const exists = new Set(todos.map(keyOf))
  return TodoRepository.of({
    enqueueDelayed: (reference, now) =>
      Effect.sync(() => {
        let added = 0
        const ranks = new Map<string, number>()
        const fresh = todos
          .filter((todo) => isDelayed(todo.dueDate, reference) && !ledger.has(keyOf(todo)))
          .sort((a, b) => a.dueDate.localeCompare(b.dueDate) || a.id.localeCompare(b.id))
        for (const todo of fresh) {
          const fairRank = (ranks.get(todo.workspaceId) ?? 0) + 1
          ranks.set(todo.workspaceId, fairRank)
          ledger.set(keyOf(todo), {
            todo,
            state: "pending",
            fairRank,
            attempts: 0,
            nextAttemptAt: now.epochMillis,
            claimedBy: undefined,
            claimExpiresAt: 0
          })
          added++
        }
        return { added, undecodable: [] }
      }),
    pending: (reference, now) =>
      Stream.suspend(() =>
        Stream.fromIterable(
          todos
            .filter((todo) => isDelayed(todo.dueDate, reference))
            .flatMap((todo): Array<ClaimedTodo> => {
              const row = ledger.get(keyOf(todo))
              if (row === undefined) return [{ ...todo, attempts: 0 }]
              const due = row.state === "pending" && row.nextAttemptAt <= now.epochMillis &&
                row.claimExpiresAt <= now.epochMillis
              return due ? [{ ...todo, attempts: row.attempts }] : []
            })
            .sort((a, b) =>
              a.dueDate.localeCompare(b.dueDate) || a.workspaceId.localeCompare(b.workspaceId) || a.id.localeCompare(b.id)
            )
        )
      ),
    claim: ({ leaseUntil, now, order, owner, size }) =>
      Effect.sync(() => {
        const claimable = [...ledger.entries()]
          .filter(([, row]) =>
            row.state === "pending" && row.nextAttemptAt <= now.epochMillis && row.claimExpiresAt <= now.epochMillis
          )
          .sort(([, a], [, b]) =>
            (order === "fair" ? a.fairRank - b.fairRank : 0) || a.nextAttemptAt - b.nextAttemptAt ||
            a.todo.dueDate.localeCompare(b.todo.dueDate)
          )
          .slice(0, size)
        const claimed: Array<ClaimedTodo> = []
        for (const [key, row] of claimable) {
          if (!exists.has(key)) {
            ledger.delete(key)
            continue
          }
          row.claimedBy = owner
          row.claimExpiresAt = leaseUntil.epochMillis
          claimed.push({ ...row.todo, attempts: row.attempts })
        }
        return claimed
      }),
    record: (owner, outcomes) =>
      Effect.sync(() => {
        for (const outcome of outcomes) {
          const row = ledger.get(keyOf(outcome.todo))
          if (row === undefined || row.claimedBy !== owner) continue
          row.claimedBy = undefined
          row.claimExpiresAt = 0
          switch (outcome._tag) {
            case "Sent":
              row.state = "sent"
              row.attempts = outcome.todo.attempts + 1
              break
            case "RetryLater":
              row.attempts = outcome.attempts
              row.nextAttemptAt = outcome.nextAttemptAt.epochMillis
              break
            case "DeadLetter":
              row.state = "dead"
              row.attempts = outcome.attempts
              break
            case "Released":
              break
          }
        }
      })
  })
}
