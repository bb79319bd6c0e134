/**
 * The use case: notify every todo delayed at a reference date exactly once, as a few named steps
 * over one Run (src/run): the backlog enters the ledger while batches are claimed (Claims), a
 * fixed set of workers sends them (Workers, NotifyTodo), outcomes are written back per batch
 * (Outcomes), progress is reported (ProgressReport), and a stop (a signal, an outage, refused
 * credentials) lets what is in flight finish. Also the dry run's preview.
 */
import { Duration, Effect, Option, Stream } from "effect"
import { type RunSummary, sendRate } from "./domain/RunSummary.js"
import type { CalendarDate } from "./domain/Todo.js"
import { endingOf, logEnding } from "./Endings.js"
import { Lines } from "./ExitCode.js"
import { adaptiveLimit, fixedLimit } from "./lib/ConcurrencyLimit.js"
import { makeFeed } from "./lib/Feed.js"
import { currentTelemetry, Metrics } from "./lib/Telemetry.js"
import { claimBatches, enqueueBacklog, makeStepAdded, renewClaims, watchDatabase } from "./run/Claims.js"
import { writeKnownOutcomes } from "./run/Outcomes.js"
import { reportProgress } from "./run/ProgressReport.js"
import { type Batch, LeaseTooShort, minimumLease, type Run, type RunOptions } from "./run/Run.js"
import { RunState } from "./run/RunState.js"
import { asideFree, makeThrottling } from "./run/Throttling.js"
import { runWorkers } from "./run/Workers.js"
import { NotificationClient } from "./services/NotificationClient.js"
import { TodoRepository } from "./services/TodoRepository.js"

export type { StopReason } from "./domain/RunSummary.js"
export { LeaseTooShort, minimumLease, type RunOptions } from "./run/Run.js"

/** Claims, sends and writes until nothing claimable is left; however it ends, what is known is written. */
const sendBacklog = (run: Run) =>
  Effect.gen(function*() {
    const stepAdded = yield* makeStepAdded
    // The claims stay a batch (or a worker each) ahead of the workers.
    const feed = yield* makeFeed<Batch>(Math.max(run.options.batchSize, run.options.concurrency), asideFree)
    yield* Effect.forkScoped(reportProgress(run))
    const pipeline = Effect.all([
      enqueueBacklog(run, stepAdded),
      claimBatches(run, feed, stepAdded),
      runWorkers(run, feed)
    ], { concurrency: "unbounded", discard: true })
    // The run's hold on the database, for as long as the pipeline runs: its claims renewed and
    // the database watched. Neither ends of itself; either fails the run when the database stops
    // answering, and nothing more is sent.
    const hold = Effect.all([renewClaims(run), watchDatabase(run)], { concurrency: "unbounded", discard: true })
    // Cut off after the grace period: what was in flight stays claimed and is resent, same key, next
    // run. The cut is not waited for (a statement's cancel may wait on a database that does not
    // answer): the last writes start at once, within the time the stop has left.
    yield* Effect.ensuring(Effect.disconnect(Effect.raceFirst(pipeline, hold)), writeKnownOutcomes(run))
  }).pipe(Effect.scoped)

/** After the grace period, the time a stopped run has for its last writes and its exit. */
export const afterGrace = Duration.seconds(10)

/**
 * Completes only when the grace period after a stop signal is over; the run normally ends first.
 * It covers the enqueue too: a signal then lets the part being added finish within the grace
 * period, and no other part is added.
 */
const graceOver = (run: Run): Effect.Effect<void> => {
  const { grace = Duration.seconds(20), stopSignal } = run.options
  return stopSignal === undefined ? Effect.never : stopSignal.pipe(
    Effect.tap((signal) => {
      run.state.exitBy = run.clock.unsafeCurrentTimeMillis() + Duration.toMillis(Duration.sum(grace, afterGrace))
      return run.state.requestStop(signal)
    }),
    Effect.tap((signal) =>
      Effect.logWarning("Stopping: claiming no more; in-flight notifications may finish.").pipe(
        Effect.annotateLogs({ signal, gracePeriod: Duration.format(grace) })
      )
    ),
    Effect.zipRight(Effect.sleep(grace)),
    Effect.zipRight(Effect.logError("The grace period ended: in-flight notifications were cut off."))
  )
}

/**
 * With metrics exported: what the ledger holds as the run ends (todos left to claim, the age of
 * the oldest pending todo, the dead letters), for alerts on the backlog. Two short reads through
 * the ledger's partial indexes; a failure of theirs changes nothing of the run's.
 */
const reportBacklog = (run: Run) =>
  !run.telemetry.exported ? Effect.void : Effect.ignore(Effect.gen(function*() {
    const [pending, { deadLetters, oldestPendingDue }] = yield* Effect.all([run.repository.leftToClaim, run.repository.backlogState])
    const now = run.clock.unsafeCurrentTimeMillis()
    run.telemetry.gauge(Metrics.backlogPending, pending)
    run.telemetry.gauge(
      Metrics.oldestPendingAge,
      oldestPendingDue === undefined ? 0 : Math.max(0, Math.round((now - Date.parse(`${oldestPendingDue}T00:00:00Z`)) / 1000))
    )
    run.telemetry.gauge(Metrics.ledgerDeadLetters, deadLetters)
  }))

/** The run's last lines: why it stopped early (if it did), and its summary. */
const summarize = (run: Run) =>
  Effect.gen(function*() {
    yield* reportBacklog(run)
    const { reference, state } = run
    const { counts } = state
    const stopped = yield* state.stopReason
    if (stopped === "outage") {
      yield* Effect.logError(Lines.notifyDown).pipe(
        Effect.annotateLogs({ startDate: reference, failuresInARow: state.outageAfter, released: counts.released })
      )
    }
    if (stopped === "throttled") {
      yield* Effect.logWarning(
        "The notify service turned every request away for a minute: stopped sending; the rest is left for a later run."
      ).pipe(Effect.annotateLogs({ startDate: reference, throttled: counts.throttled, released: counts.released }))
    }
    if (stopped === "credentials-rejected" && state.rejected !== undefined) {
      yield* Effect.logError(Lines.credentialsRejected).pipe(
        Effect.annotateLogs({ startDate: reference, error: state.rejected.message, released: counts.released })
      )
    }
    if (counts.delayed === 0 && counts.skipped === 0 && stopped === undefined) {
      yield* Effect.logInfo("Nothing was pending.").pipe(Effect.annotateLogs({ startDate: reference }))
    }
    const durationMs = run.clock.unsafeCurrentTimeMillis() - run.startedAt
    const summary: RunSummary = { reference, ...counts, concurrency: run.limit.current(), stopped, durationMs }
    yield* Effect.annotateCurrentSpan({ ...counts })
    yield* Effect.logInfo("Finished to send delay notifications.").pipe(
      Effect.annotateLogs({
        startDate: reference,
        ...counts,
        concurrency: summary.concurrency,
        durationMs,
        sentPerSecond: sendRate(summary)
      })
    )
    return summary
  })

/**
 * Notifies every todo delayed at `reference` exactly once (see the module comment). Notification
 * failures are counted, not raised; a database failure is logged and raised (the run aborts)
 * after every outcome that can still be written is written.
 */
export const sendDelayNotifications = Effect.fn("sendDelayNotifications")(function*(
  reference: CalendarDate,
  options: RunOptions
) {
  const client = yield* NotificationClient
  const minimum = minimumLease(client.longestSend)
  if (Duration.lessThan(options.lease, minimum)) return yield* new LeaseTooShort({ lease: options.lease, minimum })
  const clock = yield* Effect.clock
  const limit = options.adaptive === false ? fixedLimit(options.concurrency) : adaptiveLimit(options.concurrency)
  const telemetry = yield* currentTelemetry
  telemetry.gauge(Metrics.concurrencyLimit, limit.current())
  limit.listen((current) => telemetry.gauge(Metrics.concurrencyLimit, current))
  const run: Run = {
    reference,
    options,
    repository: yield* TodoRepository,
    client,
    clock,
    telemetry,
    state: yield* RunState.make(options.outageAfter ?? 20),
    live: new Set(),
    limit,
    throttling: makeThrottling(limit),
    enqueueing: { done: false, added: 0, of: 1 },
    span: Option.getOrUndefined(yield* Effect.option(Effect.currentSpan)),
    startedAt: clock.unsafeCurrentTimeMillis(),
    leaseMs: Duration.toMillis(options.lease),
    longestSendMs: Duration.toMillis(client.longestSend)
  }
  yield* Effect.annotateCurrentSpan({ reference, runId: options.runId })
  yield* Effect.logInfo("Starting to send delay notifications.").pipe(Effect.annotateLogs({ startDate: reference }))
  yield* Effect.raceFirst(sendBacklog(run), graceOver(run)).pipe(
    Effect.tapError((error) =>
      logEnding(endingOf(error, "running"), {
        startDate: reference,
        sent: run.state.counts.sent,
        failed: run.state.counts.failed,
        unrecorded: run.state.counts.unrecorded
      })
    ),
    // A run stopped by a signal ends as stopped (143/130), whatever failed as it stopped.
    Effect.catchAll((error) =>
      Effect.flatMap(run.state.stopReason, (reason) => reason === "SIGTERM" || reason === "SIGINT" ? Effect.void : Effect.fail(error))
    )
  )
  return yield* summarize(run)
})

/**
 * --dry-run: logs each todo a run would try now (workspace, todo, due date), from a read-only
 * query; claims, sends and records nothing. Returns how many there are.
 */
export const previewDelayNotifications = Effect.fn("previewDelayNotifications")(function*(reference: CalendarDate) {
  const repository = yield* TodoRepository
  yield* Effect.logInfo("Dry run: listing the delay notifications a run would send now; nothing is claimed or sent.")
    .pipe(Effect.annotateLogs({ startDate: reference }))
  let wouldSend = 0
  yield* Stream.runForEach(repository.pending(reference), (todo) => {
    wouldSend++
    return Effect.logInfo("Would send delay notification.").pipe(
      Effect.annotateLogs({ workspaceId: todo.workspaceId, todoId: todo.id, dueDate: todo.dueDate, attempt: todo.attempts + 1 })
    )
  }).pipe(
    Effect.tapError((error) => logEnding(endingOf(error, "running"), { startDate: reference }))
  )
  yield* Effect.logInfo("Dry run finished: nothing was claimed or sent.").pipe(
    Effect.annotateLogs({ startDate: reference, wouldSend })
  )
  return wouldSend
})
