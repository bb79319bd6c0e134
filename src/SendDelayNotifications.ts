import {
  Chunk,
  Clock,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Either,
  identity,
  Metric,
  Option,
  RateLimiter,
  Stream,
  type Tracer
} from "effect"
import { afterFailure, type RetryPolicy } from "./domain/RetryPolicy.js"
import { type RunSummary, sendRate } from "./domain/RunSummary.js"
import { Metrics, TelemetryEnabled } from "./lib/Metrics.js"
import { forEachConcurrently } from "./lib/Pipeline.js"
import { type CalendarDate, type ClaimedTodo, delayMessage, idempotencyKey } from "./domain/Todo.js"
import { NotificationClient } from "./services/NotificationClient.js"
import { type Outcome, TodoRepository } from "./services/TodoRepository.js"

export interface RunOptions {
  /** This run's id: it owns the claims it makes. */
  readonly runId: string
  /** Notifications in flight at once. */
  readonly concurrency: number
  /** Todos claimed per round trip. */
  readonly batchSize: number
  /** How long a claim holds before another run may take the todo over. */
  readonly lease: Duration.Duration
  readonly retry: RetryPolicy
  /** Notifications per second toward the notify service; none: as fast as answers come. */
  readonly rate?: number | undefined
  /** Claim round-robin over workspaces instead of oldest first. */
  readonly fair?: boolean | undefined
  /** Completes when the process is asked to stop (SIGTERM/SIGINT): claim no more, finish what is in flight. */
  readonly stopSignal?: Effect.Effect<"SIGTERM" | "SIGINT"> | undefined
  /** How long in-flight sends may take after a stop signal before they are cut off. */
  readonly grace?: Duration.Duration | undefined
  /** The notify service counts as down after this many notifications in a row fail transiently (after their retries). */
  readonly outageAfter?: number | undefined
}

/** Why a run stopped before it ran out of work. */
export type StopReason = "outage" | "SIGTERM" | "SIGINT"

/**
 * Sends one claimed todo's notification. A failure is logged for this todo alone and becomes a
 * later try or, after the last one, a dead letter; the run goes on.
 */
export const sendDelayNotification = Effect.fn("sendDelayNotification")(function*(
  todo: ClaimedTodo,
  retry: RetryPolicy,
  hooks: {
    /** The rate limit around the send. */
    readonly limit?: <A, E, R>(send: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    /** Told of each transient failure (the circuit breaker). */
    readonly onTransientFailure?: Effect.Effect<void>
    /** Whether telemetry is exported (TelemetryEnabled, read once per run: a lookup per todo was measured at 4 %). */
    readonly telemetry?: boolean
  } = {}
) {
  const client = yield* NotificationClient
  const limit = hooks.limit ?? identity
  const telemetry = hooks.telemetry === true
  if (telemetry) yield* Effect.annotateCurrentSpan({ workspaceId: todo.workspaceId, todoId: todo.id })
  const result = yield* Effect.either(limit(client.send({
    workspaceId: todo.workspaceId,
    todoId: todo.id,
    message: delayMessage(todo),
    idempotencyKey: idempotencyKey(todo)
  })))
  if (Either.isRight(result)) {
    if (telemetry) yield* Metric.increment(Metrics.sent)
    return { outcome: { _tag: "Sent", todo } satisfies Outcome, retries: result.right.retries }
  }
  const error = result.left
  if (telemetry) yield* Metric.increment(Metrics.failed)
  if (error.transient && hooks.onTransientFailure !== undefined) yield* hooks.onTransientFailure
  const attempts = todo.attempts + 1
  const next = afterFailure(attempts, retry)
  const now = yield* DateTime.now
  const outcome: Outcome = next._tag === "DeadLetter"
    ? { _tag: "DeadLetter", todo, attempts, status: error.status, error: error.message }
    : {
      _tag: "RetryLater",
      todo,
      attempts,
      nextAttemptAt: DateTime.addDuration(now, next.delay),
      status: error.status,
      error: error.message
    }
  yield* Effect.logError("Could not send delayed todo. Skipping it...").pipe(
    Effect.annotateLogs({
      workspaceId: todo.workspaceId,
      todoId: todo.id,
      error: error.message,
      attempt: attempts,
      ...(outcome._tag === "RetryLater"
        ? { nextAttemptAt: DateTime.formatIso(outcome.nextAttemptAt) }
        : { deadLetter: true })
    })
  )
  if (telemetry && outcome._tag === "DeadLetter") yield* Metric.increment(Metrics.deadLetters)
  return { outcome, retries: error.retries ?? 0 }
})

/**
 * Notifies every todo delayed at `reference` exactly once: adds them to the job's ledger, then
 * claims, sends and records them in batches until nothing claimable is left. Notification
 * failures are counted, not raised; a database failure is logged and raised (the run aborts).
 */
export const sendDelayNotifications = Effect.fn("sendDelayNotifications")(function*(
  reference: CalendarDate,
  options: RunOptions
) {
  const repository = yield* TodoRepository
  const startedAt = yield* Clock.currentTimeMillis
  const telemetry = yield* TelemetryEnabled
  yield* Effect.annotateCurrentSpan({ reference, runId: options.runId })
  yield* Effect.logInfo("Starting to send delay notifications.").pipe(Effect.annotateLogs({ startDate: reference }))
  const counts = { delayed: 0, sent: 0, failed: 0, deadLetters: 0, retried: 0, skipped: 0, released: 0 }
  const stop = yield* Deferred.make<StopReason>()
  const stopping = Deferred.isDone(stop)
  // A small circuit breaker: enough transient failures in a row mean the service is down.
  let failuresInARow = 0
  const outageAfter = options.outageAfter ?? 20
  const onTransientFailure = Effect.suspend(() =>
    ++failuresInARow >= outageAfter ? Effect.asVoid(Deferred.succeed(stop, "outage")) : Effect.void
  )

  const enqueue = Effect.gen(function*() {
    const { undecodable } = yield* repository.enqueueDelayed(reference, yield* DateTime.now)
    for (const row of undecodable) {
      counts.skipped++
      yield* Effect.logError("Could not read delayed todo. Skipping it...").pipe(
        Effect.annotateLogs({ workspaceId: row.workspaceId, todoId: row.todoId, error: row.reason })
      )
    }
  })

  /**
   * A claimed batch: its outcomes are written back together once every todo of it is done. Its
   * span runs from the claim to that write, and holds the spans of its notifications.
   */
  interface Batch {
    readonly size: number
    readonly outcomes: Array<Outcome>
    readonly span: Tracer.Span
  }

  const claims = Stream.repeatEffectChunkOption(
    Effect.gen(function*() {
      if (yield* stopping) return yield* Effect.fail(Option.none())
      const now = yield* DateTime.now
      const claimed = yield* repository.claim({
        owner: options.runId,
        size: options.batchSize,
        leaseUntil: DateTime.addDuration(now, options.lease),
        now,
        order: options.fair === true ? "fair" : "oldest-first"
      })
      if (claimed.length === 0) return yield* Effect.fail(Option.none())
      const span = yield* Effect.makeSpan("batch", { attributes: { size: claimed.length } })
      const batch: Batch = { size: claimed.length, outcomes: [], span }
      return Chunk.unsafeFromArray(claimed.map((todo) => ({ todo, batch })))
    }).pipe(Effect.mapError((error) => (Option.isOption(error) ? error : Option.some(error))))
  )

  const count = (outcome: Outcome) => {
    if (outcome._tag === "Released") {
      counts.released++
      return
    }
    counts.delayed++
    if (outcome._tag === "Sent") {
      counts.sent++
      failuresInARow = 0
    } else if (outcome._tag === "RetryLater") counts.failed++
    else if (outcome._tag === "DeadLetter") counts.deadLetters++
  }

  // One round trip records a whole batch, when its last todo is done.
  const settle = (batch: Batch, outcome: Outcome) =>
    Effect.suspend(() => {
      count(outcome)
      batch.outcomes.push(outcome)
      if (batch.outcomes.length < batch.size) return Effect.void
      return Effect.flatMap(DateTime.now, (now) => repository.record(options.runId, batch.outcomes, now)).pipe(
        Effect.withParentSpan(batch.span),
        Effect.onExit((exit) => Effect.flatMap(Clock.currentTimeNanos, (end) => Effect.sync(() => batch.span.end(end, exit))))
      )
    })

  const sendAll = Effect.gen(function*() {
    const limit = options.rate === undefined
      ? identity
      : yield* RateLimiter.make({ limit: options.rate, interval: "1 second", algorithm: "token-bucket" })
    // Once stopping, todos already claimed are released untried: pending again at once.
    const handle = (todo: ClaimedTodo, batch: Batch) =>
      Effect.flatMap(stopping, (stopped): Effect.Effect<Outcome, never, NotificationClient> =>
        stopped
          ? Effect.succeed({ _tag: "Released", todo })
          : sendDelayNotification(todo, options.retry, { limit, onTransientFailure, telemetry }).pipe(
            Effect.map(({ outcome, retries }) => {
              counts.retried += retries
              return outcome
            }),
            // Under its batch's span when traces are exported; not worth a context per todo otherwise.
            telemetry ? Effect.withParentSpan(batch.span) : identity
          ))
    const pipeline = forEachConcurrently(
      claims,
      ({ batch, todo }) => Effect.flatMap(handle(todo, batch), (outcome) => settle(batch, outcome)),
      { concurrency: options.concurrency, bufferSize: options.batchSize }
    )
    if (options.stopSignal === undefined) return yield* pipeline
    const grace = options.grace ?? Duration.seconds(20)
    // Completes only when the grace period after a signal is over; the pipeline normally wins.
    const graceOver = options.stopSignal.pipe(
      Effect.tap((signal) => Deferred.succeed(stop, signal)),
      Effect.tap((signal) =>
        Effect.logWarning("Stopping: claiming no more; in-flight notifications may finish.").pipe(
          Effect.annotateLogs({ signal, gracePeriod: Duration.format(grace) })
        )
      ),
      Effect.zipRight(Effect.sleep(grace)),
      Effect.zipRight(Effect.logError("The grace period ended: in-flight notifications were cut off."))
    )
    // Cut off after the grace period: what was in flight stays claimed and is resent, same key, next run.
    yield* Effect.raceFirst(pipeline, graceOver)
  }).pipe(Effect.scoped)

  yield* Effect.zipRight(enqueue, sendAll).pipe(
    Effect.tapError((error) =>
      Effect.logError("Could not retrieve delayed todos from the database. Aborting job...").pipe(
        Effect.annotateLogs({ startDate: reference, error: error.message, sent: counts.sent, failed: counts.failed })
      )
    )
  )
  const stopped = (yield* stopping) ? yield* Deferred.await(stop) : undefined
  if (stopped === "outage") {
    yield* Effect.logError("The notify service looks down: stopped sending. Aborting job...").pipe(
      Effect.annotateLogs({ startDate: reference, failuresInARow: outageAfter, released: counts.released })
    )
  }
  if (counts.delayed === 0 && counts.skipped === 0 && stopped === undefined) {
    yield* Effect.logInfo("Nothing was pending.").pipe(Effect.annotateLogs({ startDate: reference }))
  }
  const durationMs = (yield* Clock.currentTimeMillis) - startedAt
  const summary: RunSummary = { reference, ...counts, stopped, durationMs }
  yield* Effect.annotateCurrentSpan({ ...counts })
  yield* Effect.logInfo("Finished to send delay notifications.").pipe(
    Effect.annotateLogs({ startDate: reference, ...counts, durationMs, sentPerSecond: sendRate(summary) })
  )
  return summary
})

/**
 * --dry-run: logs each todo a run would try now (workspace, todo, due date), from a read-only
 * query; claims, sends and records nothing. Returns how many there are.
 */
export const previewDelayNotifications = Effect.fn("previewDelayNotifications")(function*(reference: CalendarDate) {
  const repository = yield* TodoRepository
  const now = yield* DateTime.now
  yield* Effect.logInfo("Dry run: listing the delay notifications a run would send now; nothing is claimed or sent.")
    .pipe(Effect.annotateLogs({ startDate: reference }))
  let wouldSend = 0
  yield* Stream.runForEach(repository.pending(reference, now), (todo) => {
    wouldSend++
    return Effect.logInfo("Would send delay notification.").pipe(
      Effect.annotateLogs({ workspaceId: todo.workspaceId, todoId: todo.id, dueDate: todo.dueDate, attempt: todo.attempts + 1 })
    )
  }).pipe(
    Effect.tapError((error) =>
      Effect.logError("Could not retrieve delayed todos from the database. Aborting job...").pipe(
        Effect.annotateLogs({ startDate: reference, error: error.message })
      )
    )
  )
  yield* Effect.logInfo("Dry run finished: nothing was claimed or sent.").pipe(
    Effect.annotateLogs({ startDate: reference, wouldSend })
  )
  return wouldSend
})
