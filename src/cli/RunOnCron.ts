/**
 * The schedule command's loop: the job run on a cron expression, one run at a time, each bounded
 * by --max-run-time, until a signal stops it.
 */
import { Clock, Cron, DateTime, Duration, Effect } from "effect"
import type { StopSignal } from "../services/Shutdown.js"

/**
 * Sleeps until `at` by the Clock, in steps of at most an hour: Effect never fires a timer set
 * further out than about 24.8 days, and each step looks at the clock again (it may have moved).
 */
const sleepUntil = (at: Date) =>
  Effect.gen(function*() {
    for (;;) {
      const left = at.getTime() - (yield* Clock.currentTimeMillis)
      if (left <= 0) return
      yield* Effect.sleep(Duration.millis(Math.min(left, 60 * 60 * 1000)))
    }
  })

/** How a scheduled run ended: its id, its exit code, and whether a signal stopped it. */
export interface ScheduledRun<Code extends number> {
  readonly runId: string
  readonly code: Code
  readonly stoppedBySignal: boolean
}

/** When and how long the runs of a schedule are. */
export interface CronSchedule<Code extends number> {
  readonly cron: Cron.Cron
  readonly expression: string
  readonly zone: DateTime.TimeZone
  /** A run still going after this is stopped (interrupted: its known outcomes are written), and the schedule goes on. */
  readonly maxRunTime: Duration.Duration
  /** The exit code reported for a run stopped that way. */
  readonly overtimeCode: Code
}

/**
 * Runs `run` at each tick of `cron`, one run at a time: the next tick is computed when a run
 * ends, so a run that outlasts a tick skips it instead of overlapping it. A failed run does not
 * stop the schedule. Returns when `stop` completes between runs (0) or a signal stopped a run
 * (that run's code).
 */
export const runOnSchedule: <Code extends number, R>(
  schedule: CronSchedule<Code>,
  stop: Effect.Effect<StopSignal>,
  run: Effect.Effect<ScheduledRun<Code>, never, R>
) => Effect.Effect<0 | Code, never, R> = Effect.fn("runOnSchedule")(function*<Code extends number, R>(
  schedule: CronSchedule<Code>,
  stop: Effect.Effect<StopSignal>,
  run: Effect.Effect<ScheduledRun<Code>, never, R>
) {
  yield* Effect.logInfo("Scheduler started.").pipe(
    Effect.annotateLogs({ cron: schedule.expression, timeZone: DateTime.zoneToString(schedule.zone) })
  )
  for (;;) {
    const next = Cron.next(schedule.cron, yield* DateTime.now)
    yield* Effect.logInfo("Next run scheduled.").pipe(Effect.annotateLogs({ at: next.toISOString() }))
    const woken = yield* Effect.raceFirst(Effect.as(sleepUntil(next), "tick" as const), stop)
    if (woken !== "tick") {
      yield* Effect.logInfo("Scheduler stopped.").pipe(Effect.annotateLogs({ signal: woken }))
      return 0 as const
    }
    // A run that hangs (whatever the cause) must not end the schedule.
    const result = yield* run.pipe(
      Effect.timeoutTo({
        duration: schedule.maxRunTime,
        onTimeout: () => undefined,
        onSuccess: (result): ScheduledRun<Code> | undefined => result
      }),
      Effect.flatMap((result) =>
        result !== undefined ? Effect.succeed(result) : Effect.logError(
          "A scheduled run took longer than --max-run-time: it was stopped; the schedule goes on."
        ).pipe(
          Effect.annotateLogs({ maxRunTime: Duration.format(schedule.maxRunTime) }),
          Effect.as({ runId: "-", code: schedule.overtimeCode, stoppedBySignal: false })
        )
      )
    )
    yield* Effect.logInfo("Scheduled run finished.").pipe(
      Effect.annotateLogs({ runId: result.runId, exitCode: result.code })
    )
    if (result.stoppedBySignal) {
      yield* Effect.logInfo("Scheduler stopped.").pipe(Effect.annotateLogs({ during: result.runId }))
      return result.code
    }
  }
})
