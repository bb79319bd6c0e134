/**
 * Migration 7 (claims of batches) over a ledger of migration 6 holding rows in every state: what
 * was pending is claimable as before, a live claim keeps its run and lease, a dead letter stays
 * one, and a sent todo is never sent again.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect } from "effect"
import { createTodosTableSql } from "../../dev/seedTodos.js"
import { migrations, migrationsTable } from "../../src/migrations/index.js"
import { LedgerAdmin } from "../../src/services/LedgerAdmin.js"
import { LedgerAdminLive } from "../../src/services/LedgerAdmin/Live.js"
import { TodoRepository } from "../../src/services/TodoRepository.js"
import { TodoRepositoryLive } from "../../src/services/TodoRepository/Live.js"
import { TestDatabaseLive } from "../support/database.js"

const { "7_batches": _, ...throughSix } = migrations
const ws = "a9393008-eab2-48e8-b820-0e03447f881c"
const todo = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`
const liveOwner = "11111111-1111-4111-8111-111111111111"
const lapsedOwner = "22222222-2222-4222-8222-222222222222"

/** The ledger's rows as migration 6 left them, one or more in each state a row could be in. */
const rowsOfSix = [
  { n: 1, state: "pending", attempts: 0, next: "-1 hour", claimedBy: null, claimFor: null },
  { n: 2, state: "pending", attempts: 0, next: "-1 hour", claimedBy: null, claimFor: null },
  { n: 3, state: "pending", attempts: 2, next: "-1 minute", claimedBy: null, claimFor: null },
  { n: 4, state: "pending", attempts: 3, next: "+1 hour", claimedBy: null, claimFor: null },
  { n: 5, state: "pending", attempts: 0, next: "-1 hour", claimedBy: liveOwner, claimFor: "+5 minutes" },
  { n: 6, state: "pending", attempts: 1, next: "-1 hour", claimedBy: liveOwner, claimFor: "+4 minutes" },
  { n: 7, state: "pending", attempts: 0, next: "-1 hour", claimedBy: lapsedOwner, claimFor: "-1 minute" },
  { n: 8, state: "sent", attempts: 1, next: "-1 day", claimedBy: null, claimFor: null },
  { n: 9, state: "dead", attempts: 10, next: "-1 day", claimedBy: null, claimFor: null }
] as const

describe("migration 7: claims of batches, over a ledger of migration 6", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.effect("carries every row over: the pending claimable as before, a live claim kept, dead letters and sent todos as they were", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(createTodosTableSql)
        yield* sql`CREATE SCHEMA delay_notifications`
        yield* Migrator.make({})({ loader: Migrator.fromRecord(throughSix), table: migrationsTable })
        for (const row of rowsOfSix) {
          yield* sql`INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
                     VALUES (${todo(row.n)}, 'Todo', 'Someone', ${`2020-01-${String(row.n).padStart(2, "0")}`}, ${ws})`
          yield* sql.unsafe(
            `INSERT INTO delay_notifications.notifications
               (workspace_id, todo_id, due_date, state, attempts, next_attempt_at, claimed_by, claim_expires_at,
                last_status, last_error, created_at, updated_at, sent_at, fair_rank)
             VALUES ($1, $2, $3, $4, $5, now() + $6::interval, $7, now() + $8::interval,
                     ${row.attempts > 0 ? "503, 'Service Unavailable'" : "NULL, NULL"}, now() - interval '2 days', now() - interval '1 day',
                     ${row.state === "sent" ? "now() - interval '1 day'" : "NULL"}, ${row.n})`,
            [ws, todo(row.n), `2020-01-${String(row.n).padStart(2, "0")}`, row.state, row.attempts, row.next, row.claimedBy, row.claimFor]
          )
        }
        const admin = yield* Effect.provide(LedgerAdmin, LedgerAdminLive)
        expect(yield* admin.migrate).toEqual(["7_batches"])

        // What an operator sees is what they saw before.
        const status = yield* admin.status(yield* DateTime.now, 10)
        expect(status.counts).toEqual({ pending: 3, retrying: 2, claimed: 2, sent: 1, dead: 1 })
        expect(status.deadLetters.map((d) => d.todoId)).toEqual([todo(9)])

        // The live claim stays its run's, until its lease lapses.
        const [live] = yield* sql<{ readonly todos: ReadonlyArray<string>; readonly left: number }>`
          SELECT todo_ids::text[] AS todos, extract(epoch FROM claim_expires_at - now())::int AS left
          FROM delay_notifications.batches WHERE claimed_by = ${liveOwner}`
        expect([...live!.todos].sort()).toEqual([todo(5), todo(6)])
        expect(live!.left).toBeGreaterThan(4 * 60 - 30)
        expect(live!.left).toBeLessThanOrEqual(5 * 60)

        // A run claims what was claimable: new, due for a retry, or under a lapsed claim; never
        // the live claim, the retry not yet due, the dead letter or the todo sent.
        const repository = yield* Effect.provide(TodoRepository, TodoRepositoryLive)
        const owner = crypto.randomUUID()
        const claimed = yield* repository.claim({ owner, size: 100, lease: Duration.minutes(5), order: "oldest-first" })
        // Oldest first: by the time of their next try, then their due date.
        expect(claimed.todos.map((t) => [t.id, t.attempts])).toEqual([[todo(1), 0], [todo(2), 0], [todo(7), 0], [todo(3), 2]])
        expect(yield* repository.backlogState).toEqual({ oldestPendingDue: "2020-01-01", deadLetters: 1 })
        const sent = yield* repository.record(owner, claimed.todos.map((t) => ({ _tag: "Sent" as const, todo: t })))
        expect(sent.notHeld).toEqual([])
        expect((yield* repository.claim({ owner: crypto.randomUUID(), size: 100, lease: Duration.minutes(5), order: "oldest-first" })).todos)
          .toEqual([])
        expect((yield* admin.status(yield* DateTime.now, 10)).counts).toEqual({ pending: 0, retrying: 1, claimed: 2, sent: 5, dead: 1 })
      }))
  })
})
