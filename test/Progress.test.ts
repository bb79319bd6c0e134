import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { ProgressBarLive, progressBarText } from "../src/services/Progress/Live.js"
import { defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { CalendarDate, type DelayedTodo, TodoId, WorkspaceId } from "../src/domain/Todo.js"
import { NotificationClient } from "../src/services/NotificationClient.js"
import { Progress, progressAnnotations, type ProgressSnapshot } from "../src/services/Progress.js"
import { sendDelayNotifications } from "../src/SendDelayNotifications.js"
import { fieldsListed } from "./support/docs.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"

const todos: ReadonlyArray<DelayedTodo> = Array.from({ length: 30 }, (_, i) => ({
  id: TodoId.make(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`),
  workspaceId: WorkspaceId.make("11111111-1111-4111-8111-111111111111"),
  dueDate: CalendarDate.make("2020-01-01")
}))

/** A client whose every send takes 100 ms of the (test) clock. */
const slowClient = Layer.succeed(
  NotificationClient,
  NotificationClient.of({ longestSend: Duration.zero, send: () => Effect.as(Effect.sleep("100 millis"), { retries: 0 }) })
)

const run = (reports: Array<ProgressSnapshot>, backlog = todos) =>
  sendDelayNotifications(CalendarDate.make("2022-06-03"), {
    runId: "run",
    concurrency: 1,
    batchSize: 10,
    lease: Duration.minutes(5),
    retry: defaultRetryPolicy,
    progressEvery: Duration.seconds(1)
  }).pipe(
    Effect.provide(Layer.merge(inMemoryLedger(backlog), slowClient)),
    Effect.provideService(Progress, { report: (snapshot) => Effect.sync(() => reports.push(snapshot)), end: Effect.void })
  )

describe("progress of a long run", () => {
  it.effect("every period: counts that add up to the backlog, the rate, and an estimated end", () =>
    Effect.gen(function*() {
      const reports: Array<ProgressSnapshot> = []
      const fiber = yield* Effect.fork(run(reports))
      for (let second = 0; second < 4; second++) yield* TestClock.adjust("1 second")
      const summary = yield* Fiber.join(fiber)
      expect(summary.sent).toBe(30)
      // Three seconds of sends at ten a second: a report at 1 s and 2 s (the run ends at 3 s).
      expect(reports.map((r) => r.sent)).toEqual([10, 20])
      for (const report of reports) {
        expect(report.sent + report.failed + report.deadLetters + report.leftToClaim! + report.inHand).toBe(30)
        expect(report.perSecond).toBe(10)
        expect(report.enqueueing).toBeUndefined()
      }
      // 10 left at 10 a second from 2 s: the end at 3 s.
      expect(reports[1]!.estimatedEnd).toEqual(DateTime.unsafeMake(3000))
    }))

  it.effect("a run shorter than one period reports nothing", () =>
    Effect.gen(function*() {
      const reports: Array<ProgressSnapshot> = []
      const fiber = yield* Effect.fork(run(reports, todos.slice(0, 5)))
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(fiber)).sent).toBe(5)
      expect(reports).toEqual([])
    }))

  it("on a terminal: one line that rewrites itself, below the log lines", () => {
    const written: Array<string> = []
    const snapshot: ProgressSnapshot = {
      sent: 1200,
      failed: 3,
      deadLetters: 0,
      leftToClaim: 2797,
      inHand: 0,
      perSecond: 400,
      concurrency: 16,
      throttled: 5,
      enqueueing: undefined,
      estimatedEnd: DateTime.unsafeMake("2026-11-29T20:05:10Z"),
      elapsed: Duration.seconds(3)
    }
    expect(progressBarText(snapshot)).toBe(
      "[#######-----------------] 30% 1,200 sent · 3 failed · 2,797 left · 400/s · 16 in flight, 5 throttled · ends ~20:05:10 UTC"
    )
    Effect.runSync(
      Effect.gen(function*() {
        const progress = yield* Progress
        yield* progress.report(snapshot)
        yield* Effect.logInfo("A line while the bar is shown.")
        yield* progress.end
      }).pipe(Effect.provide(ProgressBarLive((text) => written.push(text))))
    )
    // Drawn; cleared for the log line and drawn again below it; closed with a newline.
    expect(written).toEqual([
      `\r\u001b[K${progressBarText(snapshot)}`,
      "\r\u001b[K",
      progressBarText(snapshot),
      "\n"
    ])
  })

  it("the Progress. line's fields are those docs/operations.md lists, each one it can give", () => {
    const all = progressAnnotations({
      sent: 1, failed: 1, deadLetters: 0, leftToClaim: 5, inHand: 2, perSecond: 10, concurrency: 8, throttled: 3,
      enqueueing: { added: 1, of: 4 }, estimatedEnd: DateTime.unsafeMake(0), elapsed: Duration.seconds(1)
    })
    expect(new Set(fieldsListed("docs/operations.md", "logs `Progress.` every period:"))).toEqual(new Set(Object.keys(all)))
  })
})
