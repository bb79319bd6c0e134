/**
 * The commands that run the job: send-delay-notifications (once, or as a dry run) and schedule
 * (on a cron expression); the run's options and its exit code.
 */
import { Command, HelpDoc, Options, type ValidationError } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Cron, DateTime, Duration, Effect, Either, Option } from "effect"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { referenceDateOf } from "../domain/ReferenceDate.js"
import { defaultRetryPolicy } from "../domain/RetryPolicy.js"
import type { CalendarDate } from "../domain/Todo.js"
import { type Ending, endingOf, exitCodeOf, logEnding } from "../Endings.js"
import { ExitCode, signalExitCode } from "../ExitCode.js"
import type { AppLayers } from "../layers/AppLayers.js"
import { Env } from "../lib/Environment.js"
import { ConnectionsPerOrigin } from "../lib/HttpExchange.js"
import { reportOf, type RunResult, writeReport } from "./RunReport.js"
import { recordRunEnd } from "./RunMetrics.js"
import { runOnSchedule } from "./RunOnCron.js"
import { afterGrace, previewDelayNotifications, sendDelayNotifications } from "../SendDelayNotifications.js"
import { Shutdown } from "../services/Shutdown.js"
import { buildServices, exitCodesDoc, JobExit } from "./Common.js"
import {
  duration,
  checked,
  reference,
  type ReferenceSpec,
  resolveReference,
  resolveTuning,
  timeZone,
  type TuningOptions,
  tuningOptions,
  usageError
} from "./Options.js"

const runOnlyOptions = {
  reference,
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription(
      "List the delay notifications a run would send now (workspace, todo, due date) and stop: claims, sends and " +
        "writes nothing. Needs the same configuration as a run."
    )
  ),
  report: Options.text("report").pipe(
    Options.withDescription(
      "Write the run's summary as JSON to this file when the run ends (also when it fails or is stopped), for " +
        "pipelines that act on it. The file is replaced whole."
    ),
    Options.optional,
    Options.mapEffect((file): Effect.Effect<Option.Option<string>, ValidationError.ValidationError, FileSystem.FileSystem> =>
      Option.isNone(file) ? Effect.succeed(file) : Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const folder = path.dirname(path.resolve(file.value))
        const usable = yield* fs.stat(folder).pipe(Effect.map((info) => info.type === "Directory"), Effect.orElseSucceed(() => false))
        return usable ? file : yield* Effect.fail(usageError(`--report: the folder ${folder} does not exist.`))
      })
    )
  )
}

const sendOptions = { ...runOnlyOptions, ...tuningOptions }

type RunOptions = TuningOptions & {
  readonly reference: ReferenceSpec
  readonly dryRun: boolean
}

/** With metrics exported or pushed: what the run ended with (cli/RunMetrics). */
const recordRun = (result: RunResult) => result.wouldSend !== undefined ? Effect.void : recordRunEnd(result.code, result.summary)

/** A run that ended on `ending`: logged, and its result. */
const ended = (runId: string, ending: Ending, extra: Partial<RunResult> = {}): Effect.Effect<RunResult> =>
  Effect.as(logEnding(ending), { runId, code: ending.code, error: ending.detail, ...extra })

/**
 * An --at after today (in the run's zone) sends todos before their due date: allowed (a test, a
 * rehearsal), but said. Such a replay is recorded as one, so it narrows no later window.
 */
const warnIfAhead = (spec: ReferenceSpec, reference: CalendarDate) =>
  spec._tag === "Now" ? Effect.void : Effect.flatMap(Effect.zip(spec.zone, DateTime.now), ([zone, now]) => {
    const today = referenceDateOf(now, zone)
    return reference <= today ? Effect.void : Effect.logWarning(
      "--at is after today: todos due up to it are sent before their due date."
    ).pipe(Effect.annotateLogs({ reference, today }))
  })

/** One run of send-delay-notifications (or its dry run); never fails: how it ended is in the result. */
const runOnce = (layers: AppLayers, { dryRun, reference: referenceSpec, ...tuningSpec }: RunOptions, runId: string) =>
  Effect.gen(function*() {
    const reference = yield* resolveReference(referenceSpec)
    yield* warnIfAhead(referenceSpec, reference)
    const options = yield* resolveTuning(tuningSpec)
    const shutdown = yield* Shutdown
    // However a stop goes (a database that never answers, a hung finalizer), the process is gone
    // within the grace period and the time for the last writes after it.
    yield* shutdown.limit(Duration.sum(options.grace, afterGrace))
    // A signal while connecting ends the run at once, with the signal's code.
    const started = yield* Effect.raceFirst(
      // As many connections to the notify service as requests can be in flight (lib/HttpExchange).
      Effect.map(buildServices(layers.send).pipe(Effect.provideService(ConnectionsPerOrigin, options.concurrency)), Either.right),
      Effect.map(shutdown.requested, Either.left)
    )
    if (Either.isLeft(started)) {
      yield* Effect.logWarning("Stopping: the run had not begun; nothing was claimed.").pipe(
        Effect.annotateLogs({ signal: started.left })
      )
      return { runId, code: signalExitCode[started.left], reference } satisfies RunResult
    }
    const app = started.right
    if (dryRun) {
      const wouldSend = yield* previewDelayNotifications(reference).pipe(Effect.provide(app))
      return { runId, code: ExitCode.Success, reference, wouldSend } satisfies RunResult
    }
    const summary = yield* sendDelayNotifications(reference, {
      runId,
      concurrency: options.concurrency,
      adaptive: !options.fixedConcurrency,
      batchSize: options.batchSize,
      lease: options.lease,
      retry: { ...defaultRetryPolicy, maxAttempts: options.maxAttempts, baseDelay: options.retryDelay },
      rate: options.rate,
      fair: options.fair,
      stopSignal: shutdown.requested,
      grace: options.grace,
      outageAfter: options.outageAfter,
      progressEvery: options.progress,
      replay: referenceSpec._tag === "At",
      fullPassEvery: options.fullPassEvery
    }).pipe(Effect.provide(app))
    return { runId, code: exitCodeOf(summary), reference, summary } satisfies RunResult
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      JobExit: (exit): Effect.Effect<RunResult> =>
        Effect.succeed({ runId, code: exit.code, ...(exit.reason === undefined ? {} : { error: exit.reason }) }),
      // Logged by the run, with how far it came.
      DatabaseError: (error): Effect.Effect<RunResult> => {
        const { code, detail } = endingOf(error, "running")
        return Effect.succeed({ runId, code, error: detail })
      },
      ConfigError: (error) => ended(runId, endingOf(error, "running")),
      LeaseTooShort: (error) => ended(runId, endingOf(error, "running")),
      ClocksDisagree: (error) => ended(runId, endingOf(error, "running"))
    }),
    // A defect (a bug, an exception in a library): one line with the cause, never a silent exit.
    Effect.catchAllDefect((defect) => ended(runId, endingOf(defect, "running"), { crashed: true })),
    Effect.tap(recordRun),
    Effect.annotateLogs({ runId })
  )

export const sendCommand = (layers: AppLayers) =>
  Command.make("send-delay-notifications", sendOptions, ({ report, ...options }) =>
    Effect.gen(function*() {
      const runId = randomUUID()
      const startedAt = yield* DateTime.now
      const result = yield* runOnce(layers, options, runId)
      let code = result.code
      if (Option.isSome(report)) {
        const notWritten = yield* writeReport(report.value, reportOf(result, startedAt, yield* DateTime.now)).pipe(
          Effect.as(undefined),
          Effect.catchAll((error) => {
            const ending = endingOf(error, "running")
            return Effect.as(logEnding(ending, { runId, report: report.value }), ending)
          })
        )
        // The run's own code stands when it is not 0; a lost report turns 0 into its code.
        if (notWritten !== undefined && code === ExitCode.Success) code = notWritten.code
      }
      if (code !== ExitCode.Success) return yield* new JobExit({ code })
    })).pipe(
      Command.withDescription(
        HelpDoc.blocks([
          HelpDoc.p(
            "Notify each workspace of its todos that are due on or before the reference date, each exactly once: " +
              "todos are recorded in the job's ledger, claimed (FOR UPDATE SKIP LOCKED, with a lease), sent with an " +
              "Idempotency-Key, and their outcome recorded. Safe to run again, and in several processes at once."
          ),
          exitCodesDoc
        ])
      )
    )

export const scheduleCommand = (layers: AppLayers) =>
  Command.make("schedule", {
    expression: checked(
      "cron",
      Env.SCHEDULE,
      "When to run, as a cron expression (minute hour day-of-month month day-of-week; an optional leading " +
        "seconds field), in --time-zone. Env: SCHEDULE.",
      (expression) =>
        Either.match(Cron.parse(expression), {
          onLeft: (error) => Either.left(`${error.message}: "${expression}"`),
          onRight: () => Either.right(expression)
        })
    ),
    zone: timeZone,
    maxRunTime: duration(
      "max-run-time",
      Env.MAX_RUN_TIME,
      Duration.hours(1),
      { min: Duration.minutes(1), max: Duration.days(1) },
      "A run still going after this is stopped (its known outcomes written, its claims handed back or left to " +
        "their lease) so that one hung run never stops the schedule."
    ),
    ...tuningOptions
  }, ({ expression: expressionSpec, maxRunTime: maxRunTimeSpec, zone: zoneSpec, ...tuning }) =>
    Effect.gen(function*() {
      const zone = yield* zoneSpec
      const maxRunTime = yield* maxRunTimeSpec
      const expression = yield* expressionSpec
      // Its form was checked when it was read; only the zone is new here.
      const cron = yield* Effect.orDie(Cron.parse(expression, zone))
      const shutdown = yield* Shutdown
      const code = yield* runOnSchedule(
        { cron, expression, zone, maxRunTime, overtimeCode: ExitCode.Aborted },
        shutdown.requested,
        Effect.suspend(() =>
          Effect.map(
            runOnce(layers, { ...tuning, reference: { _tag: "Now", zone: Effect.succeed(zone) }, dryRun: false }, randomUUID()),
            (result) => ({
              runId: result.runId,
              code: result.code,
              stoppedBySignal: result.code === ExitCode.Terminated || result.code === ExitCode.Interrupted
            })
          )
        )
      )
      if (code !== ExitCode.Success) return yield* new JobExit({ code })
    })).pipe(
      Command.withDescription(
        HelpDoc.blocks([
          HelpDoc.p(
            "Run send-delay-notifications on a cron schedule, for platforms with no scheduler of their own: one run " +
              "at a time (a run that outlasts a tick skips it), each logged with its run id and exit code; a run " +
              "that fails does not stop the schedule. SIGTERM/SIGINT between runs stops it with exit 0; during a " +
              "run, that run stops as send-delay-notifications does and the scheduler exits 143/130."
          )
        ])
      )
    )

