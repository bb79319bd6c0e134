import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { batchesPerClaim } from "../../src/services/TodoRepository/Claims.js"
import { ExitCode } from "../../src/Cli.js"
import { type Notification, NotificationClient, NotificationError } from "../../src/services/NotificationClient.js"
import { createTodosTable, insertDelayedTodos, layersOnDatabase, TestDatabaseLive } from "../support/database.js"
import { cli } from "../support/TestApp.js"

const ledgerSize = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM delay_notifications.notifications`, (rows) => rows[0]!.n))

/**
 * An in-process client that accepts every notification (or refuses them all with a 422) and
 * notes how many todos the ledger held when the first one came.
 */
const observingClient = (
  sql: SqlClient.SqlClient,
  options: {
    readonly refuse?: boolean
    /** Runs `run` on the database once, as the `at`-th notification comes, and keeps what it returns. */
    readonly at?: number
    readonly run?: Effect.Effect<string, unknown, SqlClient.SqlClient>
  } = {}
) => {
  const seen = {
    sent: [] as Array<Notification>,
    ledgerAtFirstSend: undefined as number | undefined,
    observed: undefined as string | undefined
  }
  const layer = Layer.succeed(
    NotificationClient,
    NotificationClient.of({
      longestSend: Duration.zero,
      send: (notification) =>
        Effect.gen(function*() {
          if (seen.sent.length === 0 && seen.ledgerAtFirstSend === undefined) {
            seen.ledgerAtFirstSend = 0 // the first send asks; those at the same time do not
            seen.ledgerAtFirstSend = yield* Effect.provideService(ledgerSize, SqlClient.SqlClient, sql).pipe(Effect.orDie)
          }
          if (options.run !== undefined && seen.sent.length + 1 === options.at) {
            seen.observed = yield* Effect.provideService(options.run, SqlClient.SqlClient, sql).pipe(Effect.orDie)
          }
          if (options.refuse === true) {
            return yield* new NotificationError({
              workspaceId: notification.workspaceId,
              todoId: notification.todoId,
              status: 422,
              reason: "refused by the test"
            })
          }
          seen.sent.push(notification)
          return { retries: 0 }
        })
    })
  )
  return { layer, seen }
}

describe("a backlog larger than one part of the todos table", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("the first notification goes out before the whole backlog is in the ledger; each todo exactly once", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        // A table of about 900 pages (two parts: the first 64 pages, then the rest); a quarter of the todos not yet due.
        yield* insertDelayedTodos(60_000, 60, "2020-01-01")
        yield* insertDelayedTodos(20_000, 20, "2099-01-01")
        const client = observingClient(sql)
        const layers = yield* layersOnDatabase(client.layer)
        expect(yield* cli(["send-delay-notifications", "--at", "2022-06-03"], layers)).toBe(ExitCode.Success)
        expect(client.seen.ledgerAtFirstSend).toBeGreaterThan(0)
        expect(client.seen.ledgerAtFirstSend).toBeLessThan(60_000)
        expect(new Set(client.seen.sent.map((n) => n.todoId)).size).toBe(60_000)
        expect(client.seen.sent.length).toBe(60_000)
        const [states] = yield* sql<{ sent: number; other: number }>`
          SELECT count(*) FILTER (WHERE state = 'sent')::int AS sent, count(*) FILTER (WHERE state <> 'sent')::int AS other
          FROM delay_notifications.notifications`
        expect(states).toEqual({ sent: 60_000, other: 0 })
      }))

    it.scoped("claims over a large backlog just added read their batches from the claimable index, not a sort of every batch", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        yield* insertDelayedTodos(60_000, 60, "2020-01-01")
        // How PostgreSQL plans a claim (the batches ahead, migration 7) once the second, large part
        // is in the ledger: the first part holds a few thousand todos, so the 10,000th send comes after it.
        const claimPlan = sql<{ "QUERY PLAN": unknown }>`
          EXPLAIN (FORMAT JSON) SELECT * FROM delay_notifications.batches
          WHERE next_attempt_at <= now() AND (claim_expires_at IS NULL OR claim_expires_at <= now())
            AND claimed_by IS DISTINCT FROM ${crypto.randomUUID()}
          ORDER BY next_attempt_at, oldest_due, id LIMIT ${batchesPerClaim}`
        const client = observingClient(sql, { at: 10_000, run: Effect.map(claimPlan, (rows) => JSON.stringify(rows[0]!["QUERY PLAN"])) })
        const layers = yield* layersOnDatabase(client.layer)
        expect(yield* cli(["send-delay-notifications", "--at", "2022-06-03"], layers)).toBe(ExitCode.Success)
        // A sort would read and order every batch for each claim (a claim at 200,000 todos took
        // 100 ms when it sorted the pending rows, the bottleneck of a run; bench/RESULTS.md).
        expect(client.seen.observed).toContain("batches_claimable")
        expect(client.seen.observed).not.toContain(`"Node Type":"Sort"`)
        expect(client.seen.sent.length).toBe(60_000)
      }))

    it.scoped("--fair ranks each workspace's todos over the whole backlog, however many parts the table has", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTodosTable
        // One huge workspace spread over every part of the table, three small ones at its end.
        yield* insertDelayedTodos(60_000, 1, "2019-01-01")
        yield* insertDelayedTodos(6, 3, "2021-01-01")
        const client = observingClient(sql, { refuse: true })
        const layers = yield* layersOnDatabase(client.layer)
        yield* cli(["send-delay-notifications", "--at", "2022-06-03", "--fair"], layers)
        // Rank 1 and 2 once per workspace: the small ones come before the huge one's third todo.
        const ranks = yield* sql<{ rank: number; n: number }>`
          SELECT fair_rank AS rank, count(*)::int AS n FROM delay_notifications.notifications
          WHERE fair_rank <= 2 GROUP BY fair_rank ORDER BY fair_rank`
        expect(ranks).toEqual([{ rank: 1, n: 4 }, { rank: 2, n: 4 }])
      }))
  })
})
