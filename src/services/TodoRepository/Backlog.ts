/**
 * The todos table as the job reads it: its parts (pages), the todos of a part that are delayed at
 * a reference date added to the ledger (bad rows reported), read in the order of Parts.ts; and
 * the read-only preview of what a run would try (--dry-run).
 */
import { Chunk, Effect, Either, Option, ParseResult, Schema, Stream } from "effect"
import { safeExcerpt, safeText } from "../../domain/ErrorText.js"
import { fullPass, type Reading } from "../../domain/Reading.js"
import { type CalendarDate, ClaimedTodo, DelayedTodo as DelayedTodoSchema } from "../../domain/Todo.js"
import { regclassName } from "../../lib/TodosTable.js"
import { ledgerSchema } from "../../migrations/index.js"
import { type DatabaseError, failedTo } from "../DatabaseErrors.js"
import { type Enqueued, UndecodableTodo } from "../TodoRepository.js"
import { keyArrays, type Ledger } from "./Ledger.js"
import { addInParts, type TablePart, type TableReader, tablePartsOf, wholeTable } from "./Parts.js"
import { makePasses } from "./Passes.js"

const decodeTodo = Schema.decodeUnknownEither(DelayedTodoSchema)

/** Why a row of the todos table is not a delayed todo, on one line. */
const undecodable = (row: { readonly id: string; readonly workspaceId: string; readonly dueDate: string }) =>
  Either.match(decodeTodo(row), {
    onLeft: (error) =>
      new UndecodableTodo({
        workspaceId: safeExcerpt(String(row.workspaceId), 100),
        todoId: safeExcerpt(String(row.id), 100),
        reason: safeText(ParseResult.TreeFormatter.formatErrorSync(error))
      }),
    onRight: () =>
      new UndecodableTodo({ workspaceId: row.workspaceId, todoId: row.id, reason: "not readable by the database" })
  })

const decodeClaims = Schema.decodeUnknown(Schema.Array(ClaimedTodo))

/** A slice of the todos table that one statement reads: a part of its pages, or a window of due dates. */
type Slice = TablePart | { readonly since: CalendarDate }

/** How added todos are put in batches: claims take a batch at a time (migration 7). */
export interface Batching {
  readonly order: "oldest-first" | "fair"
  readonly size: number
}
const defaultBatching: Batching = { order: "oldest-first", size: 200 }

export const makeBacklog = (ledger: Ledger) => {
  const { batches, convert, ledgerNow, sql, table, todos, todosName, todosShape, within } = ledger
  /** The rows of a part of the todos table (all for the whole table). */
  const inPart = (part: TablePart) =>
    part.from === 0 && part.to === undefined
      ? sql`true`
      : part.to === undefined
      ? sql`t.ctid >= ${`(${part.from},0)`}::tid`
      : sql`t.ctid >= ${`(${part.from},0)`}::tid AND t.ctid < ${`(${part.to},0)`}::tid`

  /** The page of a row of the todos table (its ctid's block number). */
  const pageOf = sql`(t.ctid::text::point)[0]::bigint AS page`

  /**
   * The rows a read covers: a part of the table's pages, or (a window) the todos due from a date
   * on, through the index on "dueDate" (planned only when there is one, on a date column).
   */
  const inSlice = (slice: Slice) => "since" in slice ? sql`t."dueDate" >= ${slice.since}::date` : inPart(slice)

  /** The todos (of a slice of the table) due on or before `reference`, as (ws, id, due[, page]). */
  const delayedSource = (shape: "typed" | "converted", reference: CalendarDate, slice: Slice = wholeTable, withPage = false) => {
    const page = withPage ? sql`, ${pageOf}` : sql``
    return shape === "typed"
      ? sql`SELECT t."workspaceId" AS ws, t.id AS id, t."dueDate" AS due${page} FROM ${todos} t
            WHERE ${inSlice(slice)} AND t."dueDate" <= ${reference}::date`
      : sql`SELECT * FROM (SELECT ${convert.workspaceId} AS ws, ${convert.id} AS id, ${convert.dueDate} AS due${page} FROM ${todos} t
              WHERE ${inSlice(slice)}) v
            WHERE ws IS NOT NULL AND id IS NOT NULL AND due IS NOT NULL AND due <= ${reference}::date`
  }

  /**
   * The first 64 pages (half a megabyte, a few thousand todos), added in a moment so the first
   * notification goes out at once, then parts 16 times larger each (tablePartsOf): few parts,
   * each of which PostgreSQL anti-joins against the ledger in one pass (many small parts would
   * probe the ledger row by row).
   */
  const firstPartPages = 64
  const pagesOfTable = sql`(pg_relation_size(c.oid) / current_setting('block_size')::bigint)::int`
  const theTable = sql`FROM pg_class c WHERE c.oid = to_regclass(${regclassName(todosName)})`
  const tableParts = sql<{ readonly kind: string; readonly pages: number }>`
    SELECT c.relkind::text AS kind, ${pagesOfTable} AS pages ${theTable}`.pipe(
    Effect.map((rows): ReadonlyArray<TablePart> => {
      const { kind, pages } = rows[0] ?? { kind: "", pages: 0 }
      return kind !== "r" ? [wholeTable] : tablePartsOf(pages, firstPartPages)
    }),
    within.roundTrip,
    Effect.mapError(failedTo("Reading the size of the todos table"))
  )

  /**
   * Where todos the ledger does not know start, from page `from` on (TableReader.partsWithNew):
   * the same anti-join as adding them, read only (the minimum of their pages), so a run with
   * nothing new costs one read of the table, as when the rest was added in one statement.
   */
  const partsWithNew = Effect.fn("TodoRepository.partsWithNew")(
    function*(reference: CalendarDate, from: number) {
      const source = delayedSource(yield* todosShape, reference, { from, to: undefined }, true)
      const [found] = yield* sql<{ readonly first: string | null; readonly pages: number | null }>`
        SELECT min(s.page)::text AS first, (SELECT ${pagesOfTable} ${theTable}) AS pages
        FROM (${source}) s
        WHERE NOT EXISTS (
          SELECT 1 FROM ${table} n WHERE n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
        )`
      if (found?.first == null) return []
      const first = Number(found.first)
      return tablePartsOf(Math.max(found.pages ?? 0, first + 1), firstPartPages, 16, first)
    },
    within.long,
    Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Reading delayed todos")(error)))
  )

  /**
   * Runs add their parts one at a time (a lock held to the end of the adding transaction): the
   * insert's snapshot, taken once the lock is held, sees every row an earlier add committed, so
   * the anti-join alone keeps the rows unique, and every row added is in the batch added with it.
   * The insert then needs no ON CONFLICT, whose speculative insertion writes a second WAL record
   * for every row (bench/NOTES.md, "The ledger's database cost").
   */
  const addLock = sql`SELECT pg_advisory_xact_lock(hashtext(${`${ledgerSchema}.add`}))`

  /** Rows added by one part from which the ledger's statistics are refreshed at once. */
  const analyzeAfter = 10_000
  const addPart = Effect.fn("TodoRepository.enqueueDelayed")(
    function*(reference: CalendarDate, part: Slice, batching: Batching = defaultBatching) {
      const shape = yield* todosShape
      const source = delayedSource(shape, reference, part)
      const now = yield* ledgerNow
      // Only todos the ledger does not know are ranked (the sort is over the new ones alone), and
      // put in batches of the claims' order: oldest first, or a todo of every workspace before a
      // second of any (--fair). The rows and their batches go in in one statement.
      const order = batching.order === "fair" ? sql`fair_rank, due, ws, id` : sql`due, ws, id`
      const insert = sql<{ readonly added: number }>`
        WITH new AS (
          SELECT s.ws, s.id, s.due, row_number() OVER (PARTITION BY s.ws ORDER BY s.due, s.id) AS fair_rank
          FROM (${source}) s
          WHERE NOT EXISTS (
            SELECT 1 FROM ${table} n WHERE n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
          )
        ),
        ordered AS (SELECT new.*, row_number() OVER (ORDER BY ${order}) AS rn FROM new),
        added AS (
          INSERT INTO ${table} (workspace_id, todo_id, due_date, fair_rank, next_attempt_at, added_at, updated_at)
          SELECT ws, id, due, fair_rank, ${now}, ${now}, ${now} FROM ordered
          RETURNING 1
        ),
        batched AS (
          INSERT INTO ${batches} (next_attempt_at, fair_rank, oldest_due, workspace_ids, todo_ids, due_dates)
          SELECT ${now}, min(fair_rank), min(due), ${keyArrays(sql, { ws: "ws", id: "id", due: "due" }, sql`rn`)}
          FROM ordered GROUP BY (rn - 1) / ${batching.size}
          RETURNING 1
        )
        SELECT count(*)::int AS added FROM added`
      // A large part makes the planner's statistics of the ledger stale until autovacuum runs
      // (minutes later). ANALYZE in the same transaction: the first statement that sees the part
      // plans with its rows counted.
      const [inserted] = yield* sql.withTransaction(Effect.gen(function*() {
        yield* addLock
        return yield* Effect.tap(insert, ([row]) =>
          (row?.added ?? 0) >= analyzeAfter ? Effect.zipRight(sql`ANALYZE ${table}`, sql`ANALYZE ${batches}`) : Effect.void
        )
      }))
      // A row is reported only when it may be due: its due date is unreadable, or due and its ids are not.
      // Looked for once a full pass (with its first part); a window reads no more than it must.
      const rejected = shape === "typed" || "since" in part || part.from > 0 ? [] : yield* sql<{ id: string; workspaceId: string; dueDate: string }>`
        SELECT t.id::text AS id, t."workspaceId"::text AS "workspaceId", t."dueDate"::text AS "dueDate" FROM ${todos} t
        WHERE ${convert.dueDate} IS NULL
           OR (${convert.dueDate} <= ${reference}::date AND (${convert.workspaceId} IS NULL OR ${convert.id} IS NULL))
        LIMIT 1000`
      return { added: inserted?.added ?? 0, undecodable: rejected.map(undecodable) }
    },
    within.long,
    Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Reading delayed todos")(error)))
  )

  const pagesOf = 1000
  type After = { readonly dueDate: string; readonly workspaceId: string; readonly id: string } | undefined
  const pendingPage = Effect.fn("TodoRepository.pending")(
    function*(reference: CalendarDate, after: After) {
          const source = delayedSource(yield* todosShape, reference)
          const now = yield* ledgerNow
          const rows = yield* sql`
            SELECT s.id::text AS id, s.ws::text AS "workspaceId", s.due::text AS "dueDate", coalesce(n.attempts, 0) AS attempts
            FROM (${source}) s
            LEFT JOIN ${table} n ON n.workspace_id = s.ws AND n.todo_id = s.id AND n.due_date = s.due
            WHERE (n.todo_id IS NULL OR (n.state = 'pending' AND n.next_attempt_at <= ${now}
                   AND NOT EXISTS (
                     SELECT 1 FROM ${batches} b
                     WHERE b.claim_expires_at > ${now} AND n.todo_id = ANY(b.todo_ids)
                       AND (n.workspace_id, n.todo_id, n.due_date) IN (
                         SELECT * FROM unnest(b.workspace_ids, b.todo_ids, b.due_dates))
                   )))
              ${after === undefined ? sql`` : sql`AND (s.due, s.ws, s.id) > (${after.dueDate}::date, ${after.workspaceId}::uuid, ${after.id}::uuid)`}
            ORDER BY s.due, s.ws, s.id
            LIMIT ${pagesOf}`
          const todos = yield* decodeClaims(rows).pipe(Effect.orDie)
          const last = todos.at(-1)
          return [
            Chunk.unsafeFromArray(todos),
            todos.length < pagesOf || last === undefined ? Option.none() : Option.some(last)
          ] as const
    },
    within.long,
    Effect.catchTag("SqlError", (error) => Effect.fail(failedTo("Reading delayed todos")(error)))
  )
  const pending = (reference: CalendarDate) =>
    Stream.paginateChunkEffect(undefined as After, (after) => pendingPage(reference, after))

  /** The statements of the reading in parts, the todos added in batches of `batching`. */
  const readerFor = (batching: Batching = defaultBatching): TableReader => ({
    tableParts,
    partsWithNew,
    addPart: (reference, part) => addPart(reference, part, batching)
  })
  const reader = readerFor()
  const passes = makePasses(ledger)

  /**
   * The read a run planned (a full pass by default): the whole table in parts, or a window in one
   * step. Once every step is in, the read is recorded as complete; a stream halted before (a
   * stop) or failed records nothing.
   */
  const enqueueDelayed = (
    reference: CalendarDate,
    options: { readonly reading?: Reading; readonly inOneStep?: boolean; readonly batchSize?: number } = {}
  ): Stream.Stream<Enqueued, DatabaseError> => {
    const reading = options.reading ?? fullPass
    const batching: Batching = {
      order: options.inOneStep === true ? "fair" : "oldest-first",
      size: options.batchSize ?? defaultBatching.size
    }
    return Stream.unwrap(Effect.map(passes.begin, (started) => {
      const steps = reading._tag === "Window"
        ? Stream.fromEffect(Effect.map(addPart(reference, { since: reading.since }, batching), (added) => ({ ...added, step: 1, steps: 1 })))
        : addInParts(readerFor(batching), reference, options.inOneStep === true)
      const complete = Effect.flatMap(passes.complete(reading, reference, started), (recorded) =>
        recorded ? Effect.void : Effect.logWarning(
          "The todos table was rewritten while the run read it (CLUSTER, VACUUM FULL, pg_repack): this read is not recorded; the next run reads the whole table again."
        ))
      return Stream.concat(steps, Stream.execute(complete))
    }))
  }

  return { reader, enqueueDelayed, pending, planReading: passes.plan }
}
