import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, ConfigProvider, Effect, Layer, Logger, LogLevel } from "effect"
import pg from "pg"
import { afterAll, beforeAll, inject } from "vitest"
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../dev/embeddedPostgres.js"
import { createTodosTableSql, seedTodos } from "../../dev/seedTodos.js"
import { describeConfigError } from "../../src/lib/Errors.js"
import { SqlLive } from "../../src/layers/SqlLive.js"
import { type Authority, makeAuthority, makeServerCertificate } from "../support/certificates.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, runBuilt } from "../support/process.js"
import { captureLogs } from "../support/TestApp.js"

// One server for the file, serving TLS with a certificate for "localhost" only, signed by a
// private CA; a second CA that signed nothing of it.
let server: EmbeddedDatabase
let rightCa: Authority
let wrongCa: Authority

beforeAll(async () => {
  rightCa = makeAuthority("Test CA")
  wrongCa = makeAuthority("Other CA")
  server = await startEmbeddedPostgres({ tls: makeServerCertificate(rightCa, ["localhost"]) })
}, 120_000)

afterAll(() => server?.stop())

const urlFor = (host: string, query: string) => `postgres://postgres:postgres@${host}:${server.port}/postgres?${query}`

/** Connects with the job's SqlLive under `env`; whether the session is encrypted. */
const connect = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`
    return row!.ssl
  }).pipe(
    Effect.provide(SqlLive.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))),
    Effect.scoped
  )

const refusal = (env: Record<string, string>) =>
  Effect.map(Effect.flip(connect(env)), (error) => (ConfigError.isConfigError(error) ? describeConfigError(error) : error.message))

describe("TLS to PostgreSQL: sslmode in DATABASE_URL, a private CA in DATABASE_CA_FILE", () => {
  it.effect("verify-full connects with the right CA and refuses a wrong one with a clear error", () =>
    Effect.gen(function*() {
      expect(yield* connect({ DATABASE_URL: urlFor("localhost", "sslmode=verify-full"), DATABASE_CA_FILE: rightCa.certFile }))
        .toBe(true)
      const message = yield* refusal({
        DATABASE_URL: urlFor("localhost", "sslmode=verify-full"),
        DATABASE_CA_FILE: wrongCa.certFile
      })
      expect(message).toContain("the server's TLS certificate was not accepted")
      expect(message).toContain("check DATABASE_CA_FILE")
      expect(message).not.toContain("postgres:postgres")
    }))

  it.effect("verify-full checks the host name; verify-ca checks only the chain", () =>
    Effect.gen(function*() {
      const byAddress = { DATABASE_CA_FILE: rightCa.certFile }
      const message = yield* refusal({ ...byAddress, DATABASE_URL: urlFor("127.0.0.1", "sslmode=verify-full") })
      expect(message).toContain("ERR_TLS_CERT_ALTNAME_INVALID")
      expect(yield* connect({ ...byAddress, DATABASE_URL: urlFor("127.0.0.1", "sslmode=verify-ca") })).toBe(true)
      expect(yield* Effect.flip(connect({ DATABASE_CA_FILE: wrongCa.certFile, DATABASE_URL: urlFor("127.0.0.1", "sslmode=verify-ca") })))
        .toMatchObject({ _tag: "DatabaseError" })
    }))

  it.effect("the CA can also be the URL's sslrootcert, as in libpq", () =>
    Effect.gen(function*() {
      expect(yield* connect({ DATABASE_URL: urlFor("localhost", `sslmode=verify-full&sslrootcert=${rightCa.certFile}`) }))
        .toBe(true)
    }))

  it.effect("require encrypts without checking; disable does not encrypt; allow is refused", () =>
    Effect.gen(function*() {
      expect(yield* connect({ DATABASE_URL: urlFor("127.0.0.1", "sslmode=require") })).toBe(true)
      expect(yield* connect({ DATABASE_URL: urlFor("127.0.0.1", "sslmode=disable") })).toBe(false)
      // With a CA, require checks the chain (libpq: require with a root certificate is verify-ca).
      expect(yield* refusal({ DATABASE_URL: urlFor("127.0.0.1", "sslmode=require"), DATABASE_CA_FILE: wrongCa.certFile }))
        .toContain("the server's TLS certificate was not accepted")
      expect(yield* refusal({ DATABASE_URL: urlFor("127.0.0.1", "sslmode=allow") }))
        .toBe("DATABASE_URL: sslmode=allow is not supported; use disable, prefer, require, verify-ca, verify-full")
      expect(yield* refusal({ DATABASE_URL: urlFor("localhost", "sslmode=verify-full"), DATABASE_CA_FILE: "/no/such/ca.crt" }))
        .toBe("DATABASE_CA_FILE: Cannot read the file /no/such/ca.crt (ENOENT)")
    }))

  it.effect("no sslmode is libpq's prefer: encrypted when the server offers TLS, plain text when it does not", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const encrypted = yield* connect({ DATABASE_URL: urlFor("127.0.0.1", "") }).pipe(
        Effect.provide(logs.layer),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      expect(encrypted).toBe(true)
      expect(logs.lines.find((l) => l.message === "Database connection.")?.annotations).toEqual({ sslmode: "prefer (encrypted)" })
      expect(yield* connect({ DATABASE_URL: urlFor("127.0.0.1", "sslmode=prefer") })).toBe(true)
      // The run's own server offers no TLS.
      const plain = yield* captureLogs
      expect(yield* connect({ DATABASE_URL: inject("databaseUrl") }).pipe(
        Effect.provide(plain.layer),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )).toBe(false)
      expect(plain.lines.find((l) => l.message === "Database connection.")?.annotations).toEqual({
        sslmode: "prefer (plain text: the server offers no TLS)"
      })
    }))

  it.effect("DATABASE_CA_FILE without sslmode means verify-full: the chain and the host name are checked", () =>
    Effect.gen(function*() {
      expect(yield* connect({ DATABASE_URL: urlFor("localhost", ""), DATABASE_CA_FILE: rightCa.certFile })).toBe(true)
      expect(yield* refusal({ DATABASE_URL: urlFor("localhost", ""), DATABASE_CA_FILE: wrongCa.certFile }))
        .toContain("the server's TLS certificate was not accepted")
      expect(yield* refusal({ DATABASE_URL: urlFor("127.0.0.1", ""), DATABASE_CA_FILE: rightCa.certFile }))
        .toContain("ERR_TLS_CERT_ALTNAME_INVALID")
    }))

  it.scoped("the built job runs over verify-full, and stops with exit 1 and one clear line on a wrong CA", () =>
    Effect.gen(function*() {
      yield* Effect.promise(async () => {
        const client = new pg.Client({ connectionString: server.url })
        await client.connect()
        await client.query(createTodosTableSql)
        await client.query("TRUNCATE todos")
        for (const todo of seedTodos) {
          await client.query(
            `INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId") VALUES ($1, $2, $3, $4, $5)`,
            [todo.id, todo.name, todo.assignee, todo.dueDate, todo.workspaceId]
          )
        }
        await client.end()
      })
      const fake = yield* serveFakeNotifyLive()
      const env = (ca: Authority) => ({
        DATABASE_URL: urlFor("localhost", "sslmode=verify-full"),
        DATABASE_CA_FILE: ca.certFile,
        ...servicesEnv(fake.url)
      })
      const run = (args: ReadonlyArray<string>, ca: Authority) => Effect.promise(() => runBuilt(args, { env: env(ca) }))
      expect((yield* run(["migrate"], rightCa)).code).toBe(0)
      const sent = yield* run(["send-delay-notifications", "--at", "2022-06-03"], rightCa)
      expect(sent.code).toBe(0)
      expect(fake.state.notifications).toHaveLength(2)
      const refused = yield* run(["send-delay-notifications", "--at", "2022-06-03"], wrongCa)
      expect(refused.code).toBe(1)
      const errors = logLines(refused.stdout).filter((line) => line.level === "ERROR")
      expect(errors).toHaveLength(1)
      expect(errors[0]!.message).toBe("Could not connect to the database. Aborting job...")
      expect(errors[0]!.error).toContain("the server's TLS certificate was not accepted")
      expect(refused.stdout + refused.stderr).not.toContain("postgres:postgres")
    }))
})
