import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { latestMigrationId } from "../../src/migrations/index.js"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { logLines, runBuilt } from "../support/process.js"

describe("migrate from several pods at once", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("four migrate processes started together on a fresh database all succeed, and each migration is applied once", () =>
      Effect.gen(function*() {
        const env = { DATABASE_URL: yield* TestDatabaseUrl }
        const results = yield* Effect.promise(() => Promise.all(Array.from({ length: 4 }, () => runBuilt(["migrate"], { env }))))
        expect(results.map((r) => r.stdout + r.stderr).filter((output) => output.includes("ERROR"))).toEqual([])
        expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0])
        // One of them applied the migrations; the others found the schema current.
        const applied = results.map((r) => logLines(r.stdout).find((line) => line.applied !== undefined)?.applied)
        expect(applied.filter((a) => a !== "none")).toHaveLength(1)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ readonly id: number }>`SELECT migration_id AS id FROM delay_notifications.migrations ORDER BY 1`
        expect(rows.map((row) => row.id)).toEqual(Array.from({ length: latestMigrationId }, (_, i) => i + 1))
      }))
  })
})
