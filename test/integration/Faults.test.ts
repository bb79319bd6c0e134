import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, TestClock, Fiber, TestServices } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { peterTodoId, workspace1 } from "../../dev/seedTodos.js"
import { ExitCode } from "../../src/Cli.js"
import { TodoId, WorkspaceId } from "../../src/domain/Todo.js"
import { NotificationClient } from "../../src/services/NotificationClient.js"
import { parseRetryAfter } from "../../src/services/NotificationClient/Answers.js"
import { createTodosTable, insertDelayedTodos, layersOnDatabase, ledgerRows, TestDatabaseLive } from "../support/database.js"
import { fakeAndClient, liveClientLayer, serveFakeNotifyLive } from "../support/notify.js"
import { cli } from "../support/TestApp.js"

const peter = {
  todoId: TodoId.make(peterTodoId),
  workspaceId: WorkspaceId.make(workspace1),
  message: `Todo ${peterTodoId} is delayed`,
  idempotencyKey: `key-${peterTodoId}`
}
/** Another todo of Peter's workspace: sent first, it leaves the workspace's token in hand. */
const peterAgain = { ...peter, todoId: TodoId.make("00000000-0000-4000-8000-000000000001"), message: "Todo 00000000-0000-4000-8000-000000000001 is delayed", idempotencyKey: "key-again" }

describe("faults of the notify service", () => {
  it("reads Retry-After strictly by RFC 9110: delay-seconds, or an HTTP-date in each of its three forms; anything else is invalid", () => {
    const at = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")
    const delay = (ms: number) => ({ _tag: "Delay", ms })
    expect(parseRetryAfter("2", at)).toEqual(delay(2000))
    expect(parseRetryAfter(" 120 ", at)).toEqual(delay(120_000))
    expect(parseRetryAfter("0", at)).toEqual(delay(0))
    // IMF-fixdate, then the two obsolete forms a recipient must still read (RFC 9110, 5.6.7).
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", at)).toEqual(delay(10_000))
    expect(parseRetryAfter("Wednesday, 21-Oct-15 07:28:10 GMT", at)).toEqual(delay(10_000))
    expect(parseRetryAfter("Wed Oct 21 07:28:10 2015", at)).toEqual(delay(10_000))
    expect(parseRetryAfter("Wed Oct  1 07:28:10 2015", Date.parse("Thu, 01 Oct 2015 07:28:00 GMT"))).toEqual(delay(10_000))
    // A date in the past: no wait asked.
    expect(parseRetryAfter("Tue, 20 Oct 2015 07:28:00 GMT", at)).toEqual(delay(0))
    expect(parseRetryAfter(undefined, at)).toEqual({ _tag: "Absent" })
    // What Date.parse would take, and RFC 9110 does not.
    for (const value of ["1.5", "-1", "+3", "1e3", "soon", "", "2015-10-21T07:28:10Z", "21 Oct 2015 07:28:10 GMT", "Wed, 21 Oct 2015 07:28:10 +0000", "Wed, 31 Feb 2015 07:28:10 GMT", "Wed, 21 Oct 2015 25:28:10 GMT"]) {
      expect(parseRetryAfter(value, at), value).toEqual({ _tag: "Invalid" })
    }
  })

  // Each fault twice: on the first send of a workspace (its token fetched first), and on a send
  // whose token is in hand, which the client posts by a shorter path (NotificationClient's sendOne).
  const firstOrWarm = [false, true] as const

  it.scoped("a 429, or a 503 with Retry-After, ends the send as throttled with the wait asked for, not tried again within it", () =>
    Effect.gen(function*() {
      for (const tokenInHand of firstOrWarm) {
        for (const [status, retryAfterSeconds] of [[429, 2], [429, 0], [503, 2]] as const) {
          const { client, fake } = yield* fakeAndClient({ failStatus: status, retryAfterSeconds })
          const send = Context.get(client, NotificationClient).send
          if (tokenInHand) yield* send(peterAgain)
          const before = fake.state.notifyRequests
          fake.behaviour.failFirst = 1
          const error = yield* send(peter).pipe(Effect.flip)
          expect(error).toMatchObject({ _tag: "NotifyThrottled", status, todoId: peterTodoId, workspaceId: workspace1 })
          expect(error._tag === "NotifyThrottled" && error.retryAfterMs).toBe(retryAfterSeconds === 0 ? undefined : 2000)
          expect(fake.state.notifyRequests).toBe(before + 1)
        }
      }
    }))

  it.scoped("a 503 without Retry-After with nothing accepted in 5 s is the service's trouble: tried again within the send", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient({ failStatus: 503, retryAfterSeconds: 0, failFirst: 1 }, { NOTIFY_RETRY_BASE: "1 millis" })
      expect(yield* TestServices.provideLive(Context.get(client, NotificationClient).send(peter))).toMatchObject({ retries: 1 })
      expect(fake.state.answers).toEqual({ 503: 1, 201: 1 })
    }))

  it.scoped("a 503 without Retry-After within 5 s of an accepted answer is overload: throttled, not tried again, and so until 5 s have passed with nothing accepted", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient({ failStatus: 503, retryAfterSeconds: 0 }, { NOTIFY_RETRIES: "0" })
      const send = Context.get(client, NotificationClient).send
      yield* send(peterAgain)
      fake.behaviour.failFirst = 1
      const error = yield* send(peter).pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "NotifyThrottled", status: 503, overloaded: true })
      expect(fake.state.answers).toEqual({ 201: 1, 503: 1 })
      // 5 s on (the test's clock) with nothing accepted: a 503 is a failure again.
      yield* TestClock.adjust("5001 millis")
      const later = yield* send({ ...peter, todoId: TodoId.make("00000000-0000-4000-8000-000000000002"), message: "Todo 00000000-0000-4000-8000-000000000002 is delayed", idempotencyKey: "key-later" })
        .pipe(Effect.flip)
      expect(later).toMatchObject({ _tag: "NotificationError", status: 503 })
    }))

  it.scoped("400, 403 and 404 are not tried again, token in hand or not", () =>
    Effect.gen(function*() {
      for (const tokenInHand of firstOrWarm) {
        for (const status of [400, 403, 404]) {
          const { client, fake } = yield* fakeAndClient({ failStatus: status })
          const send = Context.get(client, NotificationClient).send
          if (tokenInHand) yield* send(peterAgain)
          const before = fake.state.notifyRequests
          fake.behaviour.failFirst = 1
          const error = yield* send(peter).pipe(Effect.flip)
          expect(error).toMatchObject({ _tag: "NotificationError", status, todoId: peterTodoId, workspaceId: workspace1 })
          expect(fake.state.notifyRequests).toBe(before + 1)
        }
      }
    }))

  it.layer(TestDatabaseLive)((it) => {
    it.scoped("20 % of notifications answering 500 are retried within the run: all delivered, exit 0", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(200, 5)
        const fake = yield* serveFakeNotifyLive({ failOnceEvery: 5, failStatus: 500 })
        const layers = yield* layersOnDatabase(liveClientLayer(fake.url, { NOTIFY_RETRY_BASE: "5 millis" }))
        const report = path.join(yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "report-"))), "run.json")
        const code = yield* TestServices.provideLive(
          cli(["send-delay-notifications", "--at", "2022-06-03", "--report", report], layers)
        )
        expect(code).toBe(ExitCode.Success)
        expect(new Set(fake.state.notifications.map((n) => n.message)).size).toBe(200)
        expect(fake.state.answers).toEqual({ 500: 40, 201: 200 })
        // The summary counts the 40 requests sent again.
        const summary = JSON.parse(yield* Effect.promise(() => fs.readFile(report, "utf8")))
        expect(summary).toMatchObject({ exitCode: 0, outcome: "completed", delayed: 200, sent: 200, failed: 0, retried: 40 })
        expect((yield* ledgerRows).every((r) => r.state === "sent")).toBe(true)
      }))

    it.scoped("connections closed mid-response are transient: tried again with the same key, each created once", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(200, 5)
        const fake = yield* serveFakeNotifyLive({ dropOnceEvery: 5 })
        const layers = yield* layersOnDatabase(liveClientLayer(fake.url, { NOTIFY_RETRY_BASE: "5 millis" }))
        const code = yield* TestServices.provideLive(cli(["send-delay-notifications", "--at", "2022-06-03"], layers))
        expect(code).toBe(ExitCode.Success)
        expect(fake.state.dropped).toBe(40)
        // Created once each; the 40 resends were recognised by their Idempotency-Key.
        expect(fake.state.notifications.length).toBe(200)
        expect(new Set(fake.state.notifications.map((n) => n.message)).size).toBe(200)
        expect(fake.state.duplicates).toBe(40)
      }))

    it.scoped("answers slower than the timeout are timed out, retried, and counted as failed for a later run", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(3, 1)
        // undici checks its timeouts about once a second: a one-second limit against a three-second answer.
        const fake = yield* serveFakeNotifyLive({ latencyMs: 3_000 })
        const layers = yield* layersOnDatabase(
          liveClientLayer(fake.url, { NOTIFY_TIMEOUT: "1 second", NOTIFY_RETRIES: "1", NOTIFY_RETRY_BASE: "5 millis" })
        )
        const code = yield* TestServices.provideLive(cli(["send-delay-notifications", "--at", "2022-06-03"], layers))
        expect(code).toBe(ExitCode.SomeFailed)
        // Each todo: the first try and one retry, both timed out.
        expect(fake.state.notifyRequests).toBe(6)
        const rows = yield* ledgerRows
        expect(rows.map((r) => [r.state, r.attempts])).toEqual([["pending", 1], ["pending", 1], ["pending", 1]])
        expect(rows[0]!.lastError).toMatch(/^No answer from the notify service within /)
      }))

    it.scoped("the notify service going down mid-run stops the run (exit 4); a later run, with it back, delivers the rest", () =>
      Effect.gen(function*() {
        yield* createTodosTable
        yield* insertDelayedTodos(300, 10)
        const fake = yield* serveFakeNotifyLive({ retryAfterSeconds: 0 })
        const layers = yield* layersOnDatabase(liveClientLayer(fake.url, { NOTIFY_RETRIES: "1", NOTIFY_RETRY_BASE: "5 millis" }))
        const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "4", "--batch-size", "20", "--outage-after", "10"]
        const running = yield* Effect.fork(TestServices.provideLive(cli(args, layers)))
        yield* fake.until((state) => state.notifications.length >= 50)
        Object.assign(fake.behaviour, { failEvery: 1, failStatus: 503 })
        expect(yield* Fiber.join(running)).toBe(ExitCode.Outage)

        const rows = yield* ledgerRows
        const sent = fake.state.notifications.length
        expect(sent).toBeLessThan(300)
        expect(rows.filter((r) => r.claimedBy !== null)).toEqual([])
        expect(rows.filter((r) => r.state === "sent").length).toBe(sent)
        // Only the few in flight when it went down count a failed attempt; the rest was released untried.
        const tried = rows.filter((r) => r.state === "pending" && r.attempts > 0).length
        expect(tried).toBeGreaterThanOrEqual(10)
        expect(tried).toBeLessThanOrEqual(10 + 4)

        Object.assign(fake.behaviour, { failEvery: 0 })
        // The failed ones wait for their next try; the released ones go at once.
        yield* TestServices.provideLive(cli([...args.slice(0, 3), "--retry-delay", "1s"], layers))
        expect(new Set(fake.state.notifications.map((n) => n.message)).size).toBe(300 - tried)
        expect(fake.state.duplicates).toBe(0)
      }))
  })
})
