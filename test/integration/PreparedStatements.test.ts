import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, Either, Layer } from "effect"
import { SqlLive } from "../../src/layers/SqlLive.js"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"

/** The job's own pool (layers/SqlLive.ts) on this file's database, with these settings. */
const jobPool = (settings: ReadonlyArray<readonly [string, string]> = []) =>
  Effect.flatMap(TestDatabaseUrl, (url) =>
    Layer.build(SqlLive.pipe(
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", url], ...settings]))))
    ))
  ).pipe(Effect.map((context) => context.unsafeMap.get(SqlClient.SqlClient.key) as SqlClient.SqlClient))

/** A statement with a parameter, run `times` on one connection; then what that connection has prepared. */
const runOnOneConnection = (sql: SqlClient.SqlClient, times: number) =>
  sql.withTransaction(Effect.gen(function*() {
    for (let i = 0; i < times; i++) {
      expect(yield* sql<{ n: number }>`SELECT ${i}::int + 1 AS n /* prepared-test */`).toEqual([{ n: i + 1 }])
    }
    return yield* sql<{ runs: number }>`
      SELECT (generic_plans + custom_plans)::int AS runs FROM pg_prepared_statements
      WHERE statement LIKE '%prepared-test%' AND statement NOT LIKE '%pg_prepared_statements%'`
  }))

describe("statements prepared on the server", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a statement a connection runs again is parsed by the server once, and runs from then on as prepared", () =>
      Effect.gen(function*() {
        const sql = yield* jobPool()
        // The first run goes unnamed; the other six run the one prepared statement.
        expect(yield* runOnOneConnection(sql, 7)).toEqual([{ runs: 6 }])
      }))

    it.scoped("DATABASE_PREPARED_STATEMENTS=off (a pooler that cannot keep them) prepares none", () =>
      Effect.gen(function*() {
        const sql = yield* jobPool([["DATABASE_PREPARED_STATEMENTS", "off"]])
        expect(yield* runOnOneConnection(sql, 7)).toEqual([])
      }))

    it.scoped("a script of several statements, without parameters, still runs again and again", () =>
      Effect.gen(function*() {
        const sql = yield* jobPool()
        for (let i = 0; i < 3; i++) {
          yield* sql.withTransaction(sql.unsafe("CREATE TEMP TABLE IF NOT EXISTS scratch (n int); INSERT INTO scratch VALUES (1)"))
        }
      }))

    it.scoped("a value other than on or off is refused, naming the setting", () =>
      Effect.gen(function*() {
        const built = yield* Effect.either(jobPool([["DATABASE_PREPARED_STATEMENTS", "sometimes"]]))
        expect(Either.isLeft(built)).toBe(true)
        expect(String(Either.isLeft(built) ? built.left : "")).toContain("DATABASE_PREPARED_STATEMENTS")
      }))
  })
})
