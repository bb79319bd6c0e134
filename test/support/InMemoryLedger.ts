/**
 * Test doubles of the TodoRepository port: an in-memory ledger with the SQL ledger's rules (on
 * Effect's Clock, so TestClock moves it), and a ledger whose database is down. They live here,
 * not in src/, so the built job never contains them (test/deploy.test.ts checks).
 */
import { Clock, Duration, Effect, Layer, Stream } from "effect"
import { type ClaimedTodo, type DelayedTodo, isDelayed } from "../../src/domain/Todo.js"
import { DatabaseError } from "../../src/services/DatabaseErrors.js"
import { type Outcome, type TablePart, tablePartsOf, TodoRepository, wholeTable } from "../../src/services/TodoRepository.js"

const keyOf = (todo: Pick<DelayedTodo, "workspaceId" | "id" | "dueDate">) => `${todo.workspaceId}/${todo.id}/${todo.dueDate}`

interface LedgerRow {
  readonly todo: DelayedTodo
  state: "pending" | "sent" | "dead"
  readonly fairRank: number
  attempts: number
  nextAttemptAt: number
  claimedBy: string | undefined
  claimExpiresAt: number
}

const makeInMemory = (todos: ReadonlyArray<DelayedTodo>) => {
  const ledger = new Map<string, LedgerRow>()
  const exists = new Set(todos.map(keyOf))
  const claimable = (row: LedgerRow, now: number) =>
    row.state === "pending" && row.nextAttemptAt <= now && row.claimExpiresAt <= now
  return TodoRepository.of({
    enqueueDelayed: (reference, part = wholeTable) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        let added = 0
        const ranks = new Map<string, number>()
        const fresh = todos.slice(part.from, part.to)
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
            nextAttemptAt: now,
            claimedBy: undefined,
            claimExpiresAt: 0
          })
          added++
        }
        return { added, undecodable: [] }
      }),
    // A "page" of the array is one todo: the first 40, then parts 16 times larger, as the SQL
    // ledger's first 64 pages and the parts after them.
    tableParts: Effect.sync((): ReadonlyArray<TablePart> => tablePartsOf(todos.length, 40)),
    partsWithNew: (reference, from) =>
      Effect.sync((): ReadonlyArray<TablePart> => {
        const first = todos.findIndex((todo, i) => i >= from && isDelayed(todo.dueDate, reference) && !ledger.has(keyOf(todo)))
        return first < 0 ? [] : tablePartsOf(todos.length, 40, 16, first)
      }),
    answers: Effect.void,
    leftToClaim: Effect.map(Clock.currentTimeMillis, (now) => [...ledger.values()].filter((row) => claimable(row, now)).length),
    pending: (reference) =>
      Stream.unwrap(Effect.map(Clock.currentTimeMillis, (now) =>
        Stream.fromIterable(
          todos
            .filter((todo) => isDelayed(todo.dueDate, reference))
            .flatMap((todo): Array<ClaimedTodo> => {
              const row = ledger.get(keyOf(todo))
              if (row === undefined) return [{ ...todo, attempts: 0 }]
              return claimable(row, now) ? [{ ...todo, attempts: row.attempts }] : []
            })
            .sort((a, b) =>
              a.dueDate.localeCompare(b.dueDate) || a.workspaceId.localeCompare(b.workspaceId) || a.id.localeCompare(b.id)
            )
        ))),
    claim: ({ lease, order, owner, size }) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const candidates = [...ledger.entries()]
          .filter(([, row]) => claimable(row, now) && row.claimedBy !== owner)
          .sort(([, a], [, b]) =>
            (order === "fair" ? a.fairRank - b.fairRank : 0) || a.nextAttemptAt - b.nextAttemptAt ||
            a.todo.dueDate.localeCompare(b.todo.dueDate)
          )
          .slice(0, size)
        const claimed: Array<ClaimedTodo> = []
        let dropped = 0
        for (const [key, row] of candidates) {
          if (!exists.has(key)) {
            ledger.delete(key)
            dropped++
            continue
          }
          row.claimedBy = owner
          row.claimExpiresAt = now + Duration.toMillis(lease)
          claimed.push({ ...row.todo, attempts: row.attempts })
        }
        return { todos: claimed, dropped }
      }),
    renew: (owner, lease, todos) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        let renewed = 0
        for (const todo of todos) {
          const row = ledger.get(keyOf(todo))
          if (row !== undefined && row.claimedBy === owner && row.state === "pending" && row.claimExpiresAt > now) {
            row.claimExpiresAt = now + Duration.toMillis(lease)
            renewed++
          }
        }
        return renewed
      }),
    record: (owner, outcomes) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const notHeld: Array<Outcome> = []
        for (const outcome of outcomes) {
          const row = ledger.get(keyOf(outcome.todo))
          if (row === undefined || row.claimedBy !== owner) {
            notHeld.push(outcome)
            continue
          }
          row.claimedBy = undefined
          row.claimExpiresAt = 0
          switch (outcome._tag) {
            case "Sent":
              row.state = "sent"
              row.attempts = outcome.todo.attempts + 1
              break
            case "RetryLater":
              row.attempts = outcome.attempts
              row.nextAttemptAt = now + Duration.toMillis(outcome.retryIn)
              break
            case "DeadLetter":
              row.state = "dead"
              row.attempts = outcome.attempts
              break
            case "Released":
              if (outcome.retryIn !== undefined) row.nextAttemptAt = now + Duration.toMillis(outcome.retryIn)
              break
          }
        }
        return { notHeld }
      })
  })
}

/** An in-memory ledger over the given todos, with the same rules as the SQL one. */
export const inMemoryLedger = (todos: ReadonlyArray<DelayedTodo>): Layer.Layer<TodoRepository> =>
  Layer.sync(TodoRepository, () => makeInMemory(todos))

/** A ledger whose database is down: every call fails with a DatabaseError. */
export const failingLedger = (cause: unknown): Layer.Layer<TodoRepository> =>
  Layer.succeed(TodoRepository, {
    enqueueDelayed: () => Effect.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
    tableParts: Effect.fail(new DatabaseError({ operation: "Reading the size of the todos table", cause })),
    partsWithNew: () => Effect.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
    answers: Effect.fail(new DatabaseError({ operation: "Checking that the database answers", cause })),
    leftToClaim: Effect.fail(new DatabaseError({ operation: "Counting the todos left to claim", cause })),
    claim: () => Effect.fail(new DatabaseError({ operation: "Claiming delayed todos", cause })),
    renew: () => Effect.fail(new DatabaseError({ operation: "Renewing claims", cause })),
    pending: () => Stream.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
    record: () => Effect.fail(new DatabaseError({ operation: "Recording outcomes", cause }))
  })
