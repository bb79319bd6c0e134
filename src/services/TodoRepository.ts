import { SqlClient } from "@effect/sql"
import { Context, Data, Effect, Either, Layer, ParseResult, Schema, Stream } from "effect"
import { type CalendarDate, DelayedTodo, isDelayed } from "../domain/Todo.js"

/** The messages along a cause chain ("PgClient: Failed to connect: connect ECONNREFUSED ..."). */
const describeCause = (cause: unknown): string => {
  const messages: Array<string> = []
  for (let current = cause, depth = 0; current !== undefined && depth < 5; depth++) {
    const message = current instanceof Error ? current.message : typeof current === "string" ? current : undefined
    if (message && !messages.includes(message)) messages.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return messages.length > 0 ? messages.join(": ") : String(cause)
}

/** The database could not be reached or a query failed: the run cannot go on. */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `${this.operation} failed: ${describeCause(this.cause)}`
  }
}

/** One row that is not a valid delayed todo; reported with its key and skipped. */
export class UndecodableTodo extends Data.TaggedError("UndecodableTodo")<{
  readonly workspaceId: string
  readonly todoId: string
  readonly reason: string
}> {}

/** A row of the delayed-todos stream: a todo to notify, or a row to report and skip. */
export type TodoRow = Either.Either<DelayedTodo, UndecodableTodo>

const decodeTodo = Schema.decodeUnknownEither(DelayedTodo)

/** Decodes one row, keeping its key for the report when it is not a valid delayed todo. */
const toTodoRow = (row: { readonly id: unknown; readonly workspaceId: unknown; readonly dueDate: unknown }): TodoRow =>
  Either.mapLeft(decodeTodo(row), (error) =>
    new UndecodableTodo({
      workspaceId: String(row.workspaceId),
      todoId: String(row.id),
      reason: ParseResult.TreeFormatter.formatErrorSync(error).replaceAll("\n", " ")
    }))

/** Live repository: one server-side cursor over the todos table, read in small batches. */
const makeSql = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return TodoRepository.of({
    // DATE is read as text so it stays a calendar date whatever the machine's time zone.
    delayedTodos: (reference) =>
      sql<{ id: unknown; workspaceId: unknown; dueDate: unknown }>`
        SELECT id::text AS id, "workspaceId"::text AS "workspaceId", "dueDate"::text AS "dueDate"
        FROM todos
        WHERE "dueDate" <= ${reference}
        ORDER BY "dueDate", id, "workspaceId"
      `.stream.pipe(
        Stream.map(toTodoRow),
        Stream.mapError((cause) => new DatabaseError({ operation: "Reading delayed todos", cause }))
      )
  })
})

export class TodoRepository extends Context.Tag("app/TodoRepository")<TodoRepository, {
  /** The todos due on or before `reference`, streamed in ("dueDate", id) order. */
  readonly delayedTodos: (reference: CalendarDate) => Stream.Stream<TodoRow, DatabaseError>
}>() {
  /** The live repository on the SqlClient (PostgreSQL). */
  static readonly layer: Layer.Layer<TodoRepository, never, SqlClient.SqlClient> = Layer.effect(TodoRepository, makeSql)

  /** An in-memory repository over the given todos, for tests. */
  static readonly fromTodos = (todos: ReadonlyArray<DelayedTodo>): Layer.Layer<TodoRepository> =>
    Layer.succeed(TodoRepository, {
      delayedTodos: (reference) =>
        Stream.fromIterable(todos.filter((todo) => isDelayed(todo.dueDate, reference))).pipe(Stream.map(Either.right))
    })

  /** A repository whose database is down, for tests. */
  static readonly failing = (cause: unknown): Layer.Layer<TodoRepository> =>
    Layer.succeed(TodoRepository, {
      delayedTodos: () => Stream.fail(new DatabaseError({ operation: "Reading delayed todos", cause }))
    })
}
