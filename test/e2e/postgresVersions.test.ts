/**
 * `migrate` on the test database's own PostgreSQL: a major the job supports (14 and newer, as the
 * README states) migrates; an older one gets one line, exit 1, and nothing created. CI runs this
 * file on the oldest supported major, on the newest (the default), and on the major before the
 * oldest (EMBEDDED_POSTGRES_BIN, from dev/fromRegistry.mjs), so that both sides run.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { logLines, runBuilt } from "../support/process.js"

/** The oldest major the README says the job supports. */
const oldestSupported = 14

describe("the PostgreSQL majors the job supports", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("migrate migrates on a supported major; on an older one it says so in one line, exits 1 and creates nothing", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [server] = yield* sql<{ readonly major: number; readonly version: string }>`
          SELECT current_setting('server_version_num')::int / 10000 AS major, current_setting('server_version') AS version`
        const url = yield* TestDatabaseUrl
        const run = yield* Effect.promise(() => runBuilt(["migrate"], { env: { DATABASE_URL: url } }))
        const errors = logLines(run.stdout).filter((line) => line.level === "ERROR")
        const schema = yield* sql`SELECT 1 FROM pg_namespace WHERE nspname = 'delay_notifications'`
        if (server!.major >= oldestSupported) {
          expect(errors).toEqual([])
          expect(run.code).toBe(0)
          expect(schema).toHaveLength(1)
        } else {
          expect(run.code).toBe(1)
          expect(errors.map((line) => line.message)).toEqual(["The database's PostgreSQL is older than the job supports. Aborting..."])
          expect(String(errors[0]!.error)).toContain(`PostgreSQL ${server!.version}, and the job needs ${oldestSupported} or newer`)
          expect(run.stderr).toBe("")
          expect(schema).toHaveLength(0)
        }
      }))
  })
})
