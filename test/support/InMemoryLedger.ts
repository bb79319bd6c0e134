/**
 * Test doubles of the TodoRepository port: an in-memory ledger with the SQL ledger's rules (on
 * Effect's Clock, so TestClock moves it), and a ledger whose database is down. They live here,
 * not in src/, so the built job never contains them (test/deploy.test.ts checks).
 */
import { Clock, Duration, Effect, Layer, Option, Stream } from "effect"
import { type CalendarDate, type ClaimedTodo, type DelayedTodo, isDelayed } from "../../src/domain/Todo.js"
import { fullPass, planReading, type Reading, recordedAs } from "../../src/domain/Reading.js"
import { DatabaseError } from "../../src/services/DatabaseErrors.js"
import { type Enqueued, type Outcome, TodoRepository } from "../../src/services/TodoRepository.js"

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

/** How the in-memory ledger adds the backlog. */
export interface InMemoryOptions {
  /** Todos added per step (default: all in one), in the order of the todos given. */
  readonly step?: number
  /** How long adding a step of `count` todos takes, on the clock, before they are in (default: no time). */
  readonly addingTakes?: (count: number) => Duration.Duration
  /** Whether the table has an index on "dueDate" that a window can use (default: it has). */
  readonly indexed?: boolean
}

/** The in-memory ledger over `todos`, the todos table: read as it is at each call, so a test may change it. */
export const makeInMemory = (todos: ReadonlyArray<DelayedTodo>, options: InMemoryOptions = {}) => {
  const ledger = new Map<string, LedgerRow>()
  const claimable = (row: LedgerRow, now: number) =>
    row.state === "pending" && row.nextAttemptAt <= now && row.claimExpiresAt <= now
  // The reads that completed (the SQL ledger's passes table).
  const passes: Array<{ readonly kind: "full" | "window" | "replay"; readonly reference: CalendarDate; readonly startedAt: number }> = []
  // The todos a read covers (a window: due from its first day on) that the ledger does not know.
  const fresh = (reference: CalendarDate, reading: Reading = fullPass) =>
    todos.filter((todo) =>
      isDelayed(todo.dueDate, reference) && (reading._tag === "FullPass" || todo.dueDate >= reading.since) &&
      !ledger.has(keyOf(todo))
    )
  // One step: up to `size` todos the ledger does not know, ranked per workspace over the step.
  const addStep = (reference: CalendarDate, reading: Reading, size: number) =>
    Effect.gen(function*() {
      const count = Math.min(size, fresh(reference, reading).length)
      if (options.addingTakes !== undefined) yield* Effect.sleep(options.addingTakes(count))
      const now = yield* Clock.currentTimeMillis
      const added = fresh(reference, reading).slice(0, size)
        .sort((a, b) => a.dueDate.localeCompare(b.dueDate) || a.id.localeCompare(b.id))
      const ranks = new Map<string, number>()
      for (const todo of added) {
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
      }
      return added.length
    })
  return TodoRepository.of({
    // As the SQL ledger plans it, the table always indexed on "dueDate" unless told otherwise.
    planReading: (reference, { fullPassEvery, replay }) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        planReading({
          reference,
          replay,
          indexed: options.indexed ?? true,
          lastFullPassAt: passes.filter((pass) => pass.kind === "full").at(-1)?.startedAt,
          lastReference: passes.filter((pass) => pass.kind !== "replay").map((pass) => pass.reference).sort().at(-1),
          now,
          fullPassEvery
        })),
    // Steps until none is left to add; at least one, as the SQL ledger's first part. Then the
    // read is recorded as complete.
    enqueueDelayed: (reference, { inOneStep = false, reading = fullPass } = {}) => {
      const size = inOneStep ? Infinity : options.step ?? Infinity
      const steps = Stream.unfoldEffect(0, (step) =>
        step > 0 && fresh(reference, reading).length === 0
          ? Effect.succeed(Option.none())
          : Effect.map(addStep(reference, reading, size), (added) => {
            const steps = step + 1 + Math.ceil(fresh(reference, reading).length / size)
            return Option.some([{ added, undecodable: [], step: step + 1, steps } satisfies Enqueued, step + 1] as const)
          }))
      return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (startedAt) =>
        Stream.concat(
          steps,
          Stream.execute(Effect.sync(() => {
            passes.push({ kind: recordedAs(reading), reference, startedAt })
          }))
        )))
    },
    answers: Effect.void,
    backlogState: Effect.sync(() => {
      const rows = [...ledger.values()]
      return {
        oldestPendingDue: rows.filter((row) => row.state === "pending").map((row) => row.todo.dueDate).sort().at(0),
        deadLetters: rows.filter((row) => row.state === "dead").length
      }
    }),
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
        // A claimed row whose todo no longer exists with that due date is dropped.
        const exists = new Set(todos.map(keyOf))
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
export const inMemoryLedger = (todos: ReadonlyArray<DelayedTodo>, options: InMemoryOptions = {}): Layer.Layer<TodoRepository> =>
  Layer.sync(TodoRepository, () => makeInMemory(todos, options))

/** A ledger whose database is down: every call fails with a DatabaseError. */
export const failingLedger = (cause: unknown): Layer.Layer<TodoRepository> =>
  Layer.succeed(TodoRepository, {
    planReading: () => Effect.fail(new DatabaseError({ operation: "Planning what to read of the todos table", cause })),
    enqueueDelayed: () => Stream.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
    answers: Effect.fail(new DatabaseError({ operation: "Checking that the database answers", cause })),
    backlogState: Effect.fail(new DatabaseError({ operation: "Reading the state of the backlog", cause })),
    leftToClaim: Effect.fail(new DatabaseError({ operation: "Counting the todos left to claim", cause })),
    claim: () => Effect.fail(new DatabaseError({ operation: "Claiming delayed todos", cause })),
    renew: () => Effect.fail(new DatabaseError({ operation: "Renewing claims", cause })),
    pending: () => Stream.fail(new DatabaseError({ operation: "Reading delayed todos", cause })),
    record: () => Effect.fail(new DatabaseError({ operation: "Recording outcomes", cause }))
  })
