import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import pg from "pg"
import { createTodosTableSql, seedTodos } from "../../dev/seedTodos.js"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { codeBlockAfter } from "../support/docs.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { runBuilt } from "../support/process.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

const docs = (name: string) => path.resolve(import.meta.dirname, "../../docs", name)

/** The SQL of docs/configuration.md for the job's role, as `role` with `password`, for the database `database`. */
const leastPrivilegeSql = (role: string, password: string, database: string) =>
  codeBlockAfter(docs("configuration.md"), "### The job's database role", "sql")
    .replace(/(ROLE|TO|AUTHORIZATION) delay_notifications\b/g, `$1 ${role}`)
    .replace(/'choose-one'/, `'${password}'`)
    .replace(/DATABASE app\b/g, `DATABASE ${database}`)

/** The SQL block of docs/operations.md's "Removing it", for the role `role` and the database `database`. */
const removalSql = (role: string, database: string) =>
  codeBlockAfter(docs("operations.md"), "### Removing it", "sql")
    .replace(/(FROM|ROLE) delay_notifications\b/g, `$1 ${role}`)
    .replace(/DATABASE app\b/g, `DATABASE ${database}`)

/** The `node dist/main.js ...` commands of docs/operations.md's "Kubernetes recipes", as arguments. */
const recipeCommands = (): ReadonlyArray<ReadonlyArray<string>> =>
  [...codeBlockAfter(docs("operations.md"), "### Kubernetes recipes", "sh").matchAll(/-- node dist\/main\.js (.+)$/gm)]
    .map((m) => m[1]!.match(/<[^>]+>|\S+/g)!)

/** Runs `text` as the role at `url`; the error message when it is refused. */
const refusedAs = (url: string, text: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(text)
      return "allowed"
    } catch (error) {
      return (error as Error).message
    } finally {
      await client.end()
    }
  })

describe("least privilege: the job as a role that can only read todos and owns its own schema", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("migrates, sends and reports as that role, and that role cannot write to todos", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(createTodosTableSql)
        yield* sql`INSERT INTO todos ${sql.insert(seedTodos.map((todo) => ({ ...todo })))}`
        const adminUrl = new URL(yield* TestDatabaseUrl)
        const database = adminUrl.pathname.slice(1)
        const role = `job_${database}`
        yield* Effect.acquireRelease(
          sql.unsafe(leastPrivilegeSql(role, "job-pw-81", database)),
          () =>
            sql.unsafe(`DROP SCHEMA IF EXISTS delay_notifications CASCADE; DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}')
              THEN EXECUTE 'DROP OWNED BY ${role}'; EXECUTE 'DROP ROLE ${role}'; END IF; END $$`).pipe(Effect.orDie)
        )
        const jobUrl = new URL(adminUrl)
        jobUrl.username = role
        jobUrl.password = "job-pw-81"

        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id) })
        const env = { DATABASE_URL: jobUrl.toString(), ...servicesEnv(fake.url) }
        const run = (args: ReadonlyArray<string>) => Effect.promise(() => runBuilt(args, { env }))
        expect((yield* run(["migrate"])).code).toBe(0)
        expect((yield* run(["migrate"])).code).toBe(0) // again: the schema exists, nothing to create
        expect((yield* run(["send-delay-notifications", "--at", "2022-06-03"])).code).toBe(0)
        expect(fake.state.notifications).toHaveLength(2)
        expect((yield* run(["send-delay-notifications", "--at", "2022-06-03", "--dry-run"])).code).toBe(0)
        const status = yield* run(["status", "--json"])
        expect(status.code).toBe(0)
        expect(JSON.parse(status.stdout).counts).toMatchObject({ sent: 2 })

        for (
          const statement of [
            `INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId") VALUES (gen_random_uuid(), 'x', 'x', now(), gen_random_uuid())`,
            `UPDATE todos SET name = 'changed'`,
            `DELETE FROM todos`,
            `TRUNCATE todos`,
            `CREATE TABLE public.intruder (id int)`
          ]
        ) {
          expect(yield* refusedAs(jobUrl.toString(), statement)).toMatch(/permission denied/)
        }
        const [count] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM todos WHERE name = 'changed'`
        expect(count!.n).toBe(0)

        // The operator's commands of docs/operations.md's Kubernetes recipes, as this role.
        expect(recipeCommands().map((command) => command[0])).toEqual(["status", "requeue", "prune"])
        for (const command of recipeCommands()) {
          const args = command.map((arg) => (arg === "<workspace id>" ? seedTodos[0]!.workspaceId : arg))
          expect((yield* run(args)).code, args.join(" ")).toBe(0)
        }

        // Removing it, as docs/operations.md says: the schema and the role go, todos stays as it was.
        yield* sql.unsafe(removalSql(role, database))
        expect(yield* sql`SELECT 1 FROM pg_namespace WHERE nspname = 'delay_notifications'`).toHaveLength(0)
        expect(yield* sql`SELECT 1 FROM pg_roles WHERE rolname = ${role}`).toHaveLength(0)
        const [todos] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM todos`
        expect(todos!.n).toBe(seedTodos.length)
      }))
  })
})
