import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { SqlLive } from "../../src/layers/SqlLive.js"
import { answeredWithin, NoAnswer } from "../../src/lib/DatabaseDeadlines.js"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"

/** The job's own pool (layers/SqlLive.ts) on this file's database, with a round trip's deadline of 1 s. */
const jobPool = Effect.flatMap(TestDatabaseUrl, (url) =>
  Layer.build(SqlLive.pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", url], ["DATABASE_TIMEOUT", "1s"]]))))
  ))
).pipe(Effect.map((context) => context.unsafeMap.get(SqlClient.SqlClient.key) as SqlClient.SqlClient))

describe("the job's own deadlines on a real database", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a statement past DATABASE_TIMEOUT fails naming it, and its connection is never handed out again", () =>
      Effect.gen(function*() {
        const sql = yield* jobPool
        const error = yield* Effect.flip(sql`SELECT pg_sleep(60)`)
        expect(error.cause).toBeInstanceOf(NoAnswer)
        expect(String(error.cause)).toContain("the database did not answer within 1s (DATABASE_TIMEOUT)")
        // The pool lends its most recently returned connection first: had the one still waiting on
        // pg_sleep gone back, these would wait behind it and fail in turn.
        for (let i = 0; i < 3; i++) {
          expect(yield* sql<{ ok: number }>`SELECT 1 AS ok`).toEqual([{ ok: 1 }])
        }
      }))

    it.scoped("a statement marked long has the long deadline: it may take longer than a round trip", () =>
      Effect.gen(function*() {
        const sql = yield* jobPool
        const rows = yield* answeredWithin(Duration.seconds(30), "DATABASE_STATEMENT_TIMEOUT")(sql<{ ok: number }>`SELECT 1 AS ok FROM pg_sleep(1.5)`)
        expect(rows).toEqual([{ ok: 1 }])
        expect(String((yield* Effect.flip(sql`SELECT 1 AS ok FROM pg_sleep(1.5)`)).cause)).toContain("within 1s")
      }))
  })
})
