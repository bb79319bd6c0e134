import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { ExitCode, runCli } from "../src/Cli.js"
import { NotificationClient } from "../src/services/NotificationClient.js"
import { manualShutdown } from "./support/Shutdown.js"
import { seedDelayedTodos } from "./support/seed.js"
import { captureLogs, sendOnly } from "./support/TestApp.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"
import { SentNotifications, testClientLayer } from "./support/TestClient.js"

/** One ledger for every run of the schedule (as the database is), and a client that records or dawdles. */
const scheduledApp = (client: Layer.Layer<NotificationClient>) =>
  Effect.gen(function*() {
    const repository = yield* Layer.build(inMemoryLedger(seedDelayedTodos))
    return sendOnly(Layer.merge(Layer.succeedContext(repository), client))
  })

const startSchedule = (args: ReadonlyArray<string>, client: Layer.Layer<NotificationClient>) =>
  Effect.gen(function*() {
    const logs = yield* captureLogs
    const shutdown = yield* manualShutdown
    const app = yield* scheduledApp(client)
    const fiber = yield* runCli(["node", "delay-notifications", "schedule", ...args], app).pipe(
      Effect.provide(Layer.mergeAll(NodeContext.layer, shutdown.layer, logs.layer)),
      Effect.fork
    )
    const count = (message: string) => logs.lines.filter((line) => line.message === message).length
    /** Waits for the scheduler to be asleep until its next tick (the n-th "Next run scheduled."). */
    const asleep = (n: number) => logs.until(() => count("Next run scheduled.") >= n)
    return { fiber, logs, count, asleep, signal: shutdown.signal }
  })

const midnight = Date.parse("2022-06-03T00:00:00Z")

describe("schedule --cron: the job on a cron expression, one run at a time (TestClock)", () => {
  it.scoped("runs at each tick and not before; each run is logged; SIGTERM between runs stops it with exit 0", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(midnight)
      const client = yield* Layer.build(testClientLayer())
      const schedule = yield* startSchedule(["--cron", "*/5 * * * *"], Layer.succeedContext(client))
      const sent = Context.get(client, SentNotifications).all
      yield* schedule.asleep(1)
      expect(schedule.logs.lines.find((l) => l.message === "Next run scheduled.")?.annotations.at).toBe("2022-06-03T00:05:00.000Z")
      yield* TestClock.adjust("299 seconds")
      expect((yield* sent).length).toBe(0)
      yield* TestClock.adjust("1 second")
      yield* schedule.asleep(2)
      expect((yield* sent).length).toBe(2)
      const finished = schedule.logs.lines.filter((l) => l.message === "Scheduled run finished.")
      expect(finished.map((l) => l.annotations.exitCode)).toEqual([ExitCode.Success])
      // The run's own lines carry its run id, the one the scheduler reports.
      const runId = finished[0]!.annotations.runId
      expect(schedule.logs.lines.find((l) => l.message === "Finished to send delay notifications.")?.annotations.runId).toBe(runId)
      // Next tick: nothing is pending any more, nothing is sent twice.
      yield* TestClock.adjust("5 minutes")
      yield* schedule.asleep(3)
      expect(schedule.count("Scheduled run finished.")).toBe(2)
      expect((yield* sent).length).toBe(2)
      yield* schedule.signal("SIGTERM")
      expect(yield* Fiber.join(schedule.fiber)).toBe(ExitCode.Success)
      expect(schedule.logs.lines.at(-1)?.message).toBe("Scheduler stopped.")
    }))

  it.scoped("never overlaps itself: a run that outlasts a tick skips it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(midnight)
      let inFlight = 0
      let mostInFlight = 0
      const started = yield* Deferred.make<void>()
      const slow = Layer.succeed(NotificationClient, {
        longestSend: Duration.zero,
        send: () =>
          Effect.acquireUseRelease(
            Effect.zipLeft(Effect.sync(() => (mostInFlight = Math.max(mostInFlight, ++inFlight))), Deferred.succeed(started, undefined)),
            () => Effect.as(Effect.sleep("7 minutes"), { retries: 0 }),
            () => Effect.sync(() => inFlight--)
          )
      })
      const schedule = yield* startSchedule(["--cron", "*/5 * * * *", "--concurrency", "1"], slow)
      yield* schedule.asleep(1)
      yield* TestClock.adjust("5 minutes") // 00:05: the run starts; its two sends take 14 minutes, one at a time
      yield* Deferred.await(started)
      yield* TestClock.adjust("10 minutes") // 00:15: two ticks passed during the run
      expect(schedule.count("Starting to send delay notifications.")).toBe(1)
      yield* TestClock.adjust("4 minutes") // 00:19: the run ends; the next tick is 00:20
      yield* schedule.asleep(2)
      expect(schedule.logs.lines.filter((l) => l.message === "Next run scheduled.").at(-1)?.annotations.at)
        .toBe("2022-06-03T00:20:00.000Z")
      expect(schedule.count("Scheduled run finished.")).toBe(1)
      expect(mostInFlight).toBe(1)
      yield* schedule.signal("SIGTERM")
      expect(yield* Fiber.join(schedule.fiber)).toBe(ExitCode.Success)
    }))

  it.scoped("a run that hangs is stopped after --max-run-time and the schedule goes on", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(midnight)
      let calls = 0
      const hung = yield* Deferred.make<void>()
      // The first send never answers (past every deadline the job sets); the later ones do.
      const hanging = Layer.succeed(NotificationClient, {
        longestSend: Duration.zero,
        send: () => (++calls === 1 ? Effect.zipRight(Deferred.succeed(hung, undefined), Effect.never) : Effect.succeed({ retries: 0 }))
      })
      const schedule = yield* startSchedule(["--cron", "*/5 * * * *", "--max-run-time", "10m", "--concurrency", "1"], hanging)
      yield* schedule.asleep(1)
      yield* TestClock.adjust("5 minutes") // 00:05: the run starts and hangs on its first send
      yield* Deferred.await(hung)
      yield* TestClock.adjust("10 minutes") // 00:15: past --max-run-time
      yield* schedule.asleep(2)
      expect(schedule.count("A scheduled run took longer than --max-run-time: it was stopped; the schedule goes on.")).toBe(1)
      expect(schedule.logs.lines.filter((l) => l.message === "Scheduled run finished.").map((l) => l.annotations.exitCode))
        .toEqual([ExitCode.Aborted])
      expect(schedule.logs.lines.filter((l) => l.message === "Next run scheduled.").at(-1)?.annotations.at)
        .toBe("2022-06-03T00:20:00.000Z")
      yield* schedule.signal("SIGTERM")
      expect(yield* Fiber.join(schedule.fiber)).toBe(ExitCode.Success)
    }))

  it.scoped("SIGTERM during a run stops that run as a single run would, and the scheduler exits 143", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(midnight)
      const sending = yield* Deferred.make<void>()
      const slow = Layer.succeed(NotificationClient, {
        longestSend: Duration.zero,
        send: () => Effect.zipRight(Deferred.succeed(sending, undefined), Effect.as(Effect.sleep("1 minute"), { retries: 0 }))
      })
      const schedule = yield* startSchedule(["--cron", "*/5 * * * *", "--grace", "2m"], slow)
      yield* schedule.asleep(1)
      yield* TestClock.adjust("5 minutes")
      yield* Deferred.await(sending) // the run has started and sends
      yield* schedule.signal("SIGTERM")
      yield* TestClock.adjust("1 minute") // the in-flight sends finish within the grace period
      expect(yield* Fiber.join(schedule.fiber)).toBe(ExitCode.Terminated)
      const summary = schedule.logs.lines.find((l) => l.message === "Finished to send delay notifications.")
      expect(summary?.annotations).toMatchObject({ sent: 2 })
      expect(schedule.count("Scheduler stopped.")).toBe(1)
    }))

  it.scoped("a tick 27 days away still comes (a timer cannot wait past 24.8 days; the scheduler waits in steps)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(midnight)
      const client = yield* Layer.build(testClientLayer())
      const schedule = yield* startSchedule(["--cron", "0 0 30 6 *"], Layer.succeedContext(client))
      yield* schedule.asleep(1)
      expect(schedule.logs.lines.find((l) => l.message === "Next run scheduled.")?.annotations.at).toBe("2022-06-30T00:00:00.000Z")
      yield* TestClock.adjust("26 days") // 2022-06-29
      expect((yield* Context.get(client, SentNotifications).all).length).toBe(0)
      yield* TestClock.adjust("1 day")
      yield* schedule.asleep(2)
      expect((yield* Context.get(client, SentNotifications).all).length).toBe(2)
      yield* schedule.signal("SIGTERM")
      expect(yield* Fiber.join(schedule.fiber)).toBe(ExitCode.Success)
    }))

  it.scoped("an invalid cron expression is a usage error (exit 2) and nothing runs", () =>
    Effect.gen(function*() {
      const schedule = yield* startSchedule(["--cron", "*/5 * *"], testClientLayer())
      expect(yield* Fiber.join(schedule.fiber)).toBe(ExitCode.Usage)
      expect(schedule.count("Scheduler started.")).toBe(0)
    }))
})
