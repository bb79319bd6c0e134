import { describe, expect, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect, Fiber, Layer, TestClock } from "effect"
import { ousmaneTodoId, peterTodoId, workspace1, workspace2 } from "../dev/seedTodos.js"
import { ExitCode } from "../src/Cli.js"
import { TodoId } from "../src/domain/Todo.js"
import { captureLogs, cli, sendOnly, testApp } from "./support/TestApp.js"
import { seedDelayedTodos } from "./support/seed.js"
import { failingLedger } from "./support/InMemoryLedger.js"
import { testClientLayer } from "./support/TestClient.js"

describe("send-delay-notifications on test layers", () => {
  it.scoped("notifies exactly the seed's two delayed todos at 2022-06-03, with the seed's message", () =>
    Effect.gen(function*() {
      // The seed's run: on 2022-06-03 (an --at after today would say so).
      yield* TestClock.setTime(Date.parse("2022-06-03T12:00:00Z"))
      const app = yield* testApp(seedDelayedTodos)
      const logs = yield* captureLogs
      const code = yield* cli(["send-delay-notifications", "--at", "2022-06-03"], app.appLayer).pipe(
        Effect.provide(logs.layer)
      )
      expect(code).toBe(ExitCode.Success)
      const sent = yield* app.sent
      expect(sent.map((n) => [n.workspaceId, n.message]).sort()).toEqual([
        [workspace2, `Todo ${ousmaneTodoId} is delayed`],
        [workspace1, `Todo ${peterTodoId} is delayed`]
      ].sort())
      expect(logs.lines.map((l) => [l.level, l.message])).toEqual([
        ["INFO", "Starting to send delay notifications."],
        ["INFO", "Finished to send delay notifications."]
      ])
      // Every line of the run carries the same run id.
      const runId = logs.lines[0]!.annotations.runId
      expect(runId).toMatch(/^[0-9a-f-]{36}$/)
      expect(logs.lines.map((l) => l.annotations.runId)).toEqual([runId, runId])
      expect(logs.lines[0]!.annotations).toEqual({ runId, startDate: "2022-06-03" })
      // The summary line: reference date, counts, duration and rate.
      expect(logs.lines[1]!.annotations).toEqual({
        runId,
        startDate: "2022-06-03",
        delayed: 2,
        sent: 2,
        failed: 0,
        skipped: 0,
        retried: 0,
        throttled: 0,
        deadLetters: 0,
        released: 0,
        claimsLost: 0,
        unrecorded: 0,
        // The adaptive limit: it starts at 4, and two answers with never more than two in flight do not grow it.
        concurrency: 4,
        durationMs: 0,
        sentPerSecond: 0
      })
    }))

  it.scoped("each run has its own run id", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      for (let run = 0; run < 2; run++) {
        const app = yield* testApp(seedDelayedTodos)
        yield* cli(["send-delay-notifications", "--at", "2022-06-03"], app.appLayer).pipe(Effect.provide(logs.layer))
      }
      expect(new Set(logs.lines.map((l) => l.annotations.runId)).size).toBe(2)
    }))

  it.scoped("logs a failed notification with its workspace and todo, sends the others, and exits 3", () =>
    Effect.gen(function*() {
      const app = yield* testApp(seedDelayedTodos, { failFor: [peterTodoId], status: 503 })
      const logs = yield* captureLogs
      const code = yield* cli(["send-delay-notifications", "--at", "2022-06-03"], app.appLayer).pipe(
        Effect.provide(logs.layer)
      )
      expect(code).toBe(ExitCode.SomeFailed)
      expect((yield* app.sent).map((n) => n.todoId)).toEqual([ousmaneTodoId])
      const failure = logs.lines.find((l) => l.level === "ERROR")
      expect(failure?.message).toBe("Could not send delayed todo. Skipping it...")
      expect(failure?.annotations).toMatchObject({ workspaceId: workspace1, todoId: peterTodoId })
      expect(String(failure?.annotations.error)).toContain("503")
      expect(logs.lines.at(-1)?.annotations).toMatchObject({ sent: 1, failed: 1 })
    }))

  it.scoped("aborts on a database failure: sends nothing, logs why, exits 1", () =>
    Effect.gen(function*() {
      const client = yield* Layer.build(testClientLayer())
      const logs = yield* captureLogs
      const appLayer = sendOnly(
        Layer.merge(failingLedger(new Error("connection refused")), Layer.succeedContext(client))
      )
      const code = yield* cli(["send-delay-notifications", "--at", "2022-06-03"], appLayer).pipe(
        Effect.provide(logs.layer)
      )
      expect(code).toBe(ExitCode.Aborted)
      const abort = logs.lines.find((l) => l.level === "ERROR")
      expect(abort?.message).toBe("Could not retrieve delayed todos from the database. Aborting job...")
      expect(abort?.annotations).toMatchObject({ startDate: "2022-06-03" })
      expect(String(abort?.annotations.error)).toContain("connection refused")
      expect(logs.lines.some((l) => l.message === "Finished to send delay notifications.")).toBe(false)
    }))

  it.scoped("--now follows the Clock: moving it with TestClock moves the reference date", () =>
    Effect.gen(function*() {
      const sentAt = (iso: string) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(Date.parse(iso))
          const app = yield* testApp(seedDelayedTodos)
          const code = yield* cli(["send-delay-notifications", "--now"], app.appLayer)
          expect(code).toBe(ExitCode.Success)
          return (yield* app.sent).map((n) => n.todoId).sort()
        })
      expect(yield* sentAt("2020-06-10T12:00:00Z")).toEqual([])
      expect(yield* sentAt("2020-06-11T00:00:00Z")).toEqual([peterTodoId])
      expect(yield* sentAt("2022-06-03T08:00:00Z")).toEqual([ousmaneTodoId, peterTodoId].sort())
    }))

  it.scoped("the time zone decides the reference date at a date boundary", () =>
    Effect.gen(function*() {
      const sentWith = (args: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const app = yield* testApp(seedDelayedTodos)
          expect(yield* cli(["send-delay-notifications", ...args], app.appLayer)).toBe(ExitCode.Success)
          return (yield* app.sent).map((n) => n.todoId)
        })
      // 2020-06-10 23:30 UTC is already 2020-06-11 in Berlin: Peter's todo is due there, not in UTC.
      expect(yield* sentWith(["--at", "2020-06-10T23:30:00Z"])).toEqual([])
      expect(yield* sentWith(["--at", "2020-06-10T23:30:00Z", "--time-zone", "Europe/Berlin"])).toEqual([peterTodoId])
      // A wall-clock time without an offset is read in the time zone: its date is the one written.
      expect(yield* sentWith(["--at", "2020-06-11T00:30", "--time-zone", "America/New_York"])).toEqual([peterTodoId])
      // --now in a zone ahead of UTC.
      yield* TestClock.setTime(Date.parse("2020-06-10T23:30:00Z"))
      expect(yield* sentWith(["--now"])).toEqual([])
      expect(yield* sentWith(["--now", "--time-zone", "Asia/Tokyo"])).toEqual([peterTodoId])
    }))

  it.scoped("--rate holds the requests per second, evenly: never more than N in any second (TestClock)", () =>
    Effect.gen(function*() {
      const todos = Array.from({ length: 30 }, (_, i) => ({
        ...seedDelayedTodos[1]!,
        id: TodoId.make(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`)
      }))
      const app = yield* testApp(todos)
      const run = yield* Effect.fork(cli(["send-delay-notifications", "--at", "2022-06-03", "--rate", "10"], app.appLayer))
      const sentAfter: Array<number> = []
      for (let second = 0; second < 4; second++) {
        // TestClock.adjust lets every fiber run until it waits on the clock again.
        yield* TestClock.adjust(second === 0 ? "0 millis" : "1 second")
        sentAfter.push((yield* app.sent).length)
      }
      expect(yield* Fiber.join(run)).toBe(ExitCode.Success)
      // One at once, then one every 100 ms; the 11th only once the first's second (and a guard of
      // 25 ms) has passed. A whole second's burst up front would let 20 through in one second.
      expect(sentAfter).toEqual([1, 10, 20, 30])
    }))

  it.scoped("a --report that cannot be written is logged and turns exit 0 into 1; the run's work stands", () =>
    Effect.gen(function*() {
      const app = yield* testApp(seedDelayedTodos)
      const logs = yield* captureLogs
      // A folder where the file should be: the report cannot take its place.
      const folder = mkdtempSync(path.join(tmpdir(), "report-"))
      mkdirSync(path.join(folder, "run.json"))
      const code = yield* cli(["send-delay-notifications", "--at", "2022-06-03", "--report", path.join(folder, "run.json")], app.appLayer)
        .pipe(Effect.provide(logs.layer))
      expect(code).toBe(ExitCode.Aborted)
      expect((yield* app.sent).length).toBe(2)
      const line = logs.lines.find((l) => l.level === "ERROR")
      expect(line?.message).toBe("Could not write the run report.")
      expect(line?.annotations).toMatchObject({ report: path.join(folder, "run.json") })
      rmSync(folder, { recursive: true })
    }))

  it.scoped("rejects bad usage with exit 2 and sends nothing", () =>
    Effect.gen(function*() {
      for (
        const args of [
          ["--now", "--at", "2022-06-03"],
          ["--at", "2022-02-30"],
          ["--at", "yesterday"],
          ["--time-zone", "Mars/Olympus"],
          ["--concurrency", "0"],
          ["--unknown"]
        ]
      ) {
        const app = yield* testApp(seedDelayedTodos)
        expect(yield* cli(["send-delay-notifications", ...args], app.appLayer)).toBe(ExitCode.Usage)
        expect(yield* app.sent).toEqual([])
      }
    }))
})
