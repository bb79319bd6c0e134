import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { ousmaneTodoId, peterTodoId, seedTodos, workspace1, workspace2 } from "../../dev/seedTodos.js"
import { ledgerRows, seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { fieldsListed } from "../support/docs.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, runBuilt, stackTraceLine } from "../support/process.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

const dueDateOf = (id: string) => String(seedTodos.find((todo) => todo.id === id)!.dueDate)

const runJob = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03", ...args], { env }))


const temporaryFolder = Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "observability-")))

describe("what the job tells its operators: logs, --dry-run, --report", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("logs JSON lines off a terminal, each with the run id; per-todo lines name workspace and todo", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id), failTodos: [peterTodoId] })
        const result = yield* runJob([], { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) })
        expect(result.code).toBe(3)
        const lines = logLines(result.stdout)
        const runId = lines[0]!.runId
        expect(runId).toMatch(/^[0-9a-f-]{36}$/)
        for (const line of lines) {
          expect(line).toMatchObject({ runId, level: expect.any(String), message: expect.any(String) })
          expect(Date.parse(String(line.timestamp))).not.toBeNaN()
        }
        const failure = lines.find((line) => line.message === "Could not send delayed todo. Skipping it...")
        expect(failure).toMatchObject({ level: "ERROR", workspaceId: workspace1, todoId: peterTodoId })
        // Read left to right: what, which run, which todo, then the details.
        expect(Object.keys(failure!).slice(0, 6)).toEqual(["timestamp", "level", "message", "runId", "workspaceId", "todoId"])
        const summary = lines.at(-1)!
        expect(summary).toMatchObject({
          message: "Finished to send delay notifications.",
          startDate: "2022-06-03",
          delayed: 2,
          sent: 1,
          failed: 1,
          skipped: 0,
          retried: 3,
          deadLetters: 0
        })
        expect(summary.durationMs).toEqual(expect.any(Number))
        expect(summary.sentPerSecond).toEqual(expect.any(Number))
        // Its fields, as docs/operations.md lists them (with every line's own: timestamp, level, message, runId).
        expect(new Set(fieldsListed("docs/operations.md", "`Finished to send delay notifications.`"))).toEqual(
          new Set(Object.keys(summary).filter((key) => !["timestamp", "level", "message", "runId"].includes(key)))
        )
      }))

    it.scoped("LOG_FORMAT=pretty gives readable lines; an unknown LOG_FORMAT is one line and exit 1", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id) })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const pretty = yield* runJob([], { ...env, LOG_FORMAT: "pretty" })
        expect(pretty.code).toBe(0)
        expect(pretty.stdout).toMatch(/INFO .*Finished to send delay notifications\./)
        expect(() => JSON.parse(pretty.stdout.split("\n")[0]!)).toThrow()
        const wrong = yield* runJob([], { ...env, LOG_FORMAT: "xml" })
        expect(wrong.code).toBe(1)
        expect(wrong.stdout).toBe("")
        expect(wrong.stderr.trim().split("\n")).toHaveLength(1)
        expect(wrong.stderr).toContain("LOG_FORMAT")
      }))

    it.scoped("--dry-run lists what would be sent and claims, sends and records nothing", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id) })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) }
        const folder = yield* temporaryFolder
        const dry = yield* runJob(["--dry-run", "--report", path.join(folder, "dry.json")], env)
        expect(dry.code).toBe(0)
        const listed = logLines(dry.stdout).filter((line) => line.message === "Would send delay notification.")
        expect(listed.map((line) => [line.workspaceId, line.todoId, line.dueDate]).sort()).toEqual([
          [workspace1, peterTodoId, dueDateOf(peterTodoId)],
          [workspace2, ousmaneTodoId, dueDateOf(ousmaneTodoId)]
        ].sort())
        expect(fake.state.notifyRequests).toBe(0)
        expect(fake.state.tokenRequests).toEqual([])
        expect(yield* ledgerRows).toEqual([])
        expect(JSON.parse(yield* Effect.promise(() => fs.readFile(path.join(folder, "dry.json"), "utf8"))))
          .toMatchObject({ exitCode: 0, outcome: "dry-run", reference: "2022-06-03", wouldSend: 2 })
        // After a real run, nothing is left to send.
        expect((yield* runJob([], env)).code).toBe(0)
        const after = yield* runJob(["--dry-run"], env)
        expect(logLines(after.stdout).filter((line) => line.message === "Would send delay notification.")).toEqual([])
        expect(fake.state.notifications).toHaveLength(2)
      }))

    it.scoped("--report writes the summary as JSON, also for a run that aborted", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id), failTodos: [peterTodoId] })
        const folder = yield* temporaryFolder
        const report = path.join(folder, "run.json")
        const failed = yield* runJob(["--report", report], { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url) })
        expect(failed.code).toBe(3)
        const written = JSON.parse(yield* Effect.promise(() => fs.readFile(report, "utf8")))
        expect(written).toMatchObject({
          exitCode: 3,
          outcome: "some-failed",
          reference: "2022-06-03",
          delayed: 2,
          sent: 1,
          failed: 1,
          skipped: 0,
          retried: 3,
          deadLetters: 0,
          released: 0
        })
        expect(written.runId).toBe(logLines(failed.stdout)[0]!.runId)
        expect(Date.parse(written.finishedAt)).toBeGreaterThanOrEqual(Date.parse(written.startedAt))

        const aborted = yield* runJob(["--report", report], {
          DATABASE_URL: "postgres://job:secret-pw@127.0.0.1:9/todos",
          ...servicesEnv(fake.url)
        })
        expect(aborted.code).toBe(1)
        const abortReport = yield* Effect.promise(() => fs.readFile(report, "utf8"))
        expect(JSON.parse(abortReport)).toMatchObject({ exitCode: 1, outcome: "aborted", error: expect.stringContaining("connect") })
        expect(abortReport).not.toContain("secret-pw")
      }))
  })

  it.effect("--report into a folder that does not exist is a usage error (exit 2) before anything runs", () =>
    Effect.gen(function*() {
      const result = yield* runJob(["--report", "/nonexistent/folder/run.json"], {})
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("--report: the folder /nonexistent/folder does not exist.")
      expect(result.stderr).not.toMatch(stackTraceLine)
    }))
})
