/**
 * `npx tsx bench/queue-choice.ts [N]`: why the job keeps its own ledger instead of @effect/sql's
 * SqlPersistedQueue. Both on the same embedded PostgreSQL, N delayed todos, 64 concurrent
 * workers whose "send" does nothing, so what is measured is the queue's own cost.
 */
import { Reactivity } from "@effect/experimental"
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import { SqlClient, SqlPersistedQueue } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { createHash } from "node:crypto"
import { Duration, Effect, Layer, Redacted, Schema } from "effect"
import { embeddedPostgres, migrateDatabase } from "../dev/devEnvironment.js"
import { createTodosTableSql } from "../dev/seedTodos.js"
import { defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { CalendarDate } from "../src/domain/Todo.js"
import { sendDelayNotifications } from "../src/SendDelayNotifications.js"
import { TodoRepositoryLive } from "../src/services/TodoRepository/Live.js"
import { testClientLayer } from "../test/support/TestClient.js"

const N = Number(process.argv[2] ?? 10_000)
const concurrency = 64

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    yield* effect
    return performance.now() - start
  })

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(createTodosTableSql)
  yield* sql`INSERT INTO todos SELECT gen_random_uuid(), 'x', 'y', '2020-01-01'::date, gen_random_uuid() FROM generate_series(1, ${N})`
  const rows = yield* sql<{ id: string; workspaceId: string; dueDate: string }>`
    SELECT id::text AS id, "workspaceId"::text AS "workspaceId", "dueDate"::text AS "dueDate" FROM todos`

  // SqlPersistedQueue: offer each todo (idempotent by id), take with 64 workers.
  const queue = yield* PersistedQueue.make({ name: "delay", schema: Schema.Struct({ id: Schema.String, workspaceId: Schema.String, dueDate: Schema.String }) })
  // Its ids are varchar(36): the (workspace, todo, due date) key has to be hashed into one.
  const idOf = (row: { id: string; workspaceId: string; dueDate: string }) =>
    createHash("sha1").update(`${row.workspaceId}:${row.id}:${row.dueDate}`).digest("hex").slice(0, 36)
  const offerMs = yield* timed(Effect.forEach(rows, (row) => queue.offer(row, { id: idOf(row) }), { concurrency: 16, discard: true }))
  let taken = 0
  const takeMs = yield* timed(
    Effect.forEach(Array.from({ length: concurrency }), () =>
      Effect.gen(function*() {
        while (taken < N) yield* queue.take(() => Effect.sync(() => void taken++)).pipe(Effect.timeoutOption("2 seconds"))
      }), { concurrency: "unbounded", discard: true })
  )

  // The job's ledger: one INSERT ... SELECT, then claims and outcomes in batches.
  yield* migrateDatabaseOn
  const ledgerMs = yield* timed(
    sendDelayNotifications(CalendarDate.make("2022-06-03"), {
      runId: crypto.randomUUID(),
      concurrency,
      batchSize: 200,
      lease: Duration.minutes(5),
      retry: defaultRetryPolicy
    }).pipe(
      Effect.provide(Layer.merge(TodoRepositoryLive, testClientLayer())),
      Effect.provide(Layer.succeed(SqlClient.SqlClient, sql))
    )
  )
  const rate = (ms: number) => Math.round(N / (ms / 1000))
  console.log(`N = ${N}, ${concurrency} workers, no-op send`)
  console.log(`SqlPersistedQueue: offer ${offerMs.toFixed(0)} ms, take+complete ${takeMs.toFixed(0)} ms (${rate(offerMs + takeMs)}/s in all)`)
  console.log(`job ledger:        enqueue+claim+send+record ${ledgerMs.toFixed(0)} ms (${rate(ledgerMs)}/s)`)
})

let migrateDatabaseOn: Effect.Effect<void> = Effect.void

Effect.gen(function*() {
  const database = yield* embeddedPostgres
  migrateDatabaseOn = Effect.asVoid(migrateDatabase(database.url))
  yield* program.pipe(
    Effect.provide(PersistedQueue.layer),
    Effect.provide(SqlPersistedQueue.layerStore({ pollInterval: "10 millis" })),
    Effect.provide(PgClient.layer({ url: Redacted.make(database.url) })),
    Effect.provide(Reactivity.layer),
    Effect.provide(Layer.scope)
  )
}).pipe(Effect.scoped, Effect.orDie, Effect.runPromise).then(() => process.exit(0))
