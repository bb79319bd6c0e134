import { Reactivity } from "@effect/experimental"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { LedgerAdmin } from "../src/services/LedgerAdmin.js"
import { LedgerAdminLive } from "../src/services/LedgerAdmin/Live.js"
import { type FakeNotifyOptions, serveFakeNotify } from "./fakeNotify/FakeNotify.js"
import { startEmbeddedPostgres } from "./embeddedPostgres.js"
import { createTodosTableSql, seedTodos } from "./seedTodos.js"

export const devClientId = "todos"
export const devClientSecret = "dev-secret"

/** A real PostgreSQL in a temporary folder, for the life of the scope. */
export const embeddedPostgres = Effect.acquireRelease(
  Effect.promise(() => startEmbeddedPostgres()),
  (database) => Effect.promise(() => database.stop())
)

/** The job's own schema, as `node dist/main.js migrate` makes it. */
export const migrateDatabase = (databaseUrl: string) =>
  Effect.flatMap(LedgerAdmin, (admin) => admin.migrate).pipe(
    Effect.provide(LedgerAdminLive),
    Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })),
    Effect.provide(Reactivity.layer),
    Effect.orDie
  )

/** Creates the todos table as the todos service defines it and fills it with the seed's five todos. */
export const seedDatabase = (databaseUrl: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(createTodosTableSql)
    yield* sql`TRUNCATE todos`
    yield* sql`INSERT INTO todos ${sql.insert(seedTodos.map((todo) => ({ ...todo })))}`
  }).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })),
    Effect.provide(Reactivity.layer),
    Effect.orDie
  )

const seedOwner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

/**
 * The embedded database with the seed's todos and the fake notify service on free ports, and the
 * environment the job needs to run against them.
 */
export const devEnvironment = (fakeOptions: FakeNotifyOptions = {}) =>
  Effect.gen(function*() {
    const database = yield* embeddedPostgres
    yield* seedDatabase(database.url)
    const fake = yield* serveFakeNotify({
      clientId: devClientId,
      clientSecret: devClientSecret,
      workspaceOf: (todoId) => seedOwner.get(todoId),
      ...fakeOptions
    })
    const env = {
      DATABASE_URL: database.url,
      SERVICES_URL: fake.url,
      CLIENT_ID: devClientId,
      CLIENT_SECRET: devClientSecret
    }
    return { database, fake, env }
  })
