import {
  Clock,
  Data,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Either,
  Metric,
  Option,
  Queue,
  RateLimiter,
  Stream,
  type Tracer
} from "effect"
import { afterFailure, type RetryPolicy } from "./domain/RetryPolicy.js"
import { type RunSummary, sendRate, type StopReason, type StopSignal } from "./domain/RunSummary.js"
import { type CalendarDate, type ClaimedTodo, delayMessage, idempotencyKey } from "./domain/Todo.js"
import { type Feed, type FeedBatch, makeFeed } from "./lib/Feed.js"
import { Metrics, TelemetryEnabled } from "./lib/Metrics.js"
import { NotificationClient, type NotificationError } from "./services/NotificationClient.js"
import { Progress } from "./services/Progress.js"
import type { ClientRejected } from "./services/ServiceTokens.js"
import { type Outcome, TodoRepository, wholeTable } from "./services/TodoRepository.js"

export type { StopReason } from "./domain/RunSummary.js"

export interface RunOptions {
  /** This run's id: it owns the claims it makes. */
  readonly runId: string
  /** Notifications in flight at once. */
  readonly concurrency: number
  /** Todos claimed per round trip. */
  readonly batchSize: number
  /** How long a claim holds without renewal; the run renews its live claims every quarter of it. */
  readonly lease: Duration.Duration
  readonly retry: RetryPolicy
  /** Notifications per second toward the notify service; none: as fast as answers come. */
  readonly rate?: number | undefined
  /** Claim round-robin over workspaces instead of oldest first. */
  readonly fair?: boolean | undefined
  /** Completes when the process is asked to stop (SIGTERM/SIGINT): claim no more, finish what is in flight. */
  readonly stopSignal?: Effect.Effect<StopSignal> | undefined
  /** How long in-flight sends may take after a stop signal before they are cut off. */
  readonly grace?: Duration.Duration | undefined
  /** The notify service counts as down after this many notifications in a row fail transiently (after their retries). */
  readonly outageAfter?: number | undefined
  /** How often progress is reported (default 10 seconds); the first report comes after one period. */
  readonly progressEvery?: Duration.Duration | undefined
}

/** A lease too short for one send: a claim could lapse mid-send and another run send the todo too. */
export class LeaseTooShort extends Data.TaggedError("LeaseTooShort")<{
  readonly lease: Duration.Duration
  readonly minimum: Duration.Duration
}> {
  override get message(): string {
    return `--lease ${Duration.format(this.lease)} is shorter than one notification can take with its retries: ` +
      `give at least ${Duration.format(this.minimum)}, or lower NOTIFY_TIMEOUT, NOTIFY_RETRIES or NOTIFY_RETRY_BUDGET`
  }
}

/** The shortest lease that lets every send start with its claim sure to outlive it (renewed every quarter). */
export const minimumLease = (longestSend: Duration.Duration): Duration.Duration =>
  Duration.millis(Math.ceil(((Duration.toMillis(longestSend) + 1000) * 4) / 3))

export interface NotifyHooks {
  /** Waited on before each further request of this send (the rate limit, when there is one). */
  readonly pace?: Effect.Effect<void> | undefined
  /** Told of each transient failure (the circuit breaker). */
  readonly onTransientFailure?: Effect.Effect<void>
  /** Whether telemetry is exported (TelemetryEnabled, read once per run: a lookup per todo was measured at 4 %). */
  readonly telemetry?: boolean
  /** Told of the retries within the run of each accepted send. */
  readonly onRetried?: (retries: number) => void
  /** The auth service refused the job's own credentials (no todo's failure): what becomes of the todo. */
  readonly onRejected: (error: ClientRejected, todo: ClaimedTodo) => Effect.Effect<Outcome>
}

/** A notification that failed: logged for this todo alone, and tried again later or dead-lettered. */
const notificationFailed = Effect.fnUntraced(function*(
  todo: ClaimedTodo,
  error: NotificationError,
  retry: RetryPolicy,
  hooks: NotifyHooks
) {
  if (hooks.telemetry === true) yield* Metric.increment(Metrics.failed)
  if (error.transient && hooks.onTransientFailure !== undefined) yield* hooks.onTransientFailure
  const attempts = todo.attempts + 1
  const next = afterFailure(attempts, retry)
  const outcome: Outcome = next._tag === "DeadLetter"
    ? { _tag: "DeadLetter", todo, attempts, status: error.status, error: error.message }
    : { _tag: "RetryLater", todo, attempts, retryIn: next.delay, status: error.status, error: error.message }
  yield* Effect.logError("Could not send delayed todo. Skipping it...").pipe(
    Effect.annotateLogs({
      workspaceId: todo.workspaceId,
      todoId: todo.id,
      error: error.message,
      attempt: attempts,
      ...(outcome._tag === "RetryLater"
        ? { nextAttemptAt: DateTime.formatIso(DateTime.addDuration(yield* DateTime.now, outcome.retryIn)) }
        : { deadLetter: true })
    })
  )
  if (hooks.telemetry === true && outcome._tag === "DeadLetter") yield* Metric.increment(Metrics.deadLetters)
  hooks.onRetried?.(error.retries ?? 0)
  return outcome
})

// The path taken once per notification is combinators and plain functions, no generator, and a
// span (with a captured stack) only when traces leave the process: Effect.fn's cost and each
// step's allocations showed in every profile (bench/RESULTS.md).
const notifyUntraced = (
  client: NotificationClient["Type"],
  todo: ClaimedTodo,
  retry: RetryPolicy,
  hooks: NotifyHooks
): Effect.Effect<Outcome> =>
  Effect.matchEffect(
    client.send({
      workspaceId: todo.workspaceId,
      todoId: todo.id,
      message: delayMessage(todo),
      idempotencyKey: idempotencyKey(todo)
    }, hooks.pace),
    {
      onSuccess: (delivery) => {
        hooks.onRetried?.(delivery.retries)
        const outcome: Outcome = { _tag: "Sent", todo }
        return hooks.telemetry === true ? Effect.as(Metric.increment(Metrics.sent), outcome) : Effect.succeed(outcome)
      },
      onFailure: (error) =>
        error._tag === "ClientRejected" ? hooks.onRejected(error, todo) : notificationFailed(todo, error, retry, hooks)
    }
  )

const notifyTraced = Effect.fn("sendDelayNotification")(function*(
  client: NotificationClient["Type"],
  todo: ClaimedTodo,
  retry: RetryPolicy,
  hooks: NotifyHooks
) {
  yield* Effect.annotateCurrentSpan({ workspaceId: todo.workspaceId, todoId: todo.id })
  return yield* notifyUntraced(client, todo, retry, hooks)
})

/**
 * Sends one claimed todo's notification. A failure is logged for this todo alone and becomes a
 * later try or, after the last one, a dead letter; the run goes on. The client's credentials being
 * refused is not the todo's failure: `hooks.onRejected` decides (the run stops).
 */
export const notifyTodo = (
  client: NotificationClient["Type"],
  todo: ClaimedTodo,
  retry: RetryPolicy,
  hooks: NotifyHooks
): Effect.Effect<Outcome> =>
  hooks.telemetry === true ? notifyTraced(client, todo, retry, hooks) : notifyUntraced(client, todo, retry, hooks)

/**
 * At most `rate` requests in any second: permits come evenly (a burst of at most a hundredth of
 * the rate), where a bucket of a whole second's permits would let twice the rate through in one.
 */
const rateLimiter = (rate: number) => {
  const burst = Math.max(1, Math.round(rate / 100))
  return RateLimiter.make({ limit: burst, interval: Duration.millis((burst * 1000) / rate), algorithm: "token-bucket" })
}

/**
 * A claimed batch: its todos (from `next` on untaken, handed back if the run ends first); its
 * outcomes are written back together once every todo of it is done (or, when the run stops, as
 * far as they are known). Its span runs from the claim to that write.
 */
interface Batch extends FeedBatch<ClaimedTodo> {
  readonly outcomes: Array<Outcome>
  /** Until when, by this process's Clock, the run surely holds these claims (renewals push it on). */
  deadline: number
  readonly span: Tracer.Span
}

/** Claimed todos left unwritten when a run ended, with the database error that kept them so. */
interface Unwritten {
  readonly outcomes: number
  readonly error: string
}

/**
 * Notifies every todo delayed at `reference` exactly once: adds them to the job's ledger, then
 * claims, sends and records them in batches until nothing claimable is left. Notification
 * failures are counted, not raised; a database failure is logged and raised (the run aborts)
 * after every outcome that can still be written is written.
 */
export const sendDelayNotifications = Effect.fn("sendDelayNotifications")(function*(
  reference: CalendarDate,
  options: RunOptions
) {
  const repository = yield* TodoRepository
  const client = yield* NotificationClient
  const minimum = minimumLease(client.longestSend)
  if (Duration.lessThan(options.lease, minimum)) return yield* new LeaseTooShort({ lease: options.lease, minimum })
  const clock = yield* Effect.clock
  const startedAt = clock.unsafeCurrentTimeMillis()
  const telemetry = yield* TelemetryEnabled
  const leaseMs = Duration.toMillis(options.lease)
  const longestMs = Duration.toMillis(client.longestSend)
  yield* Effect.annotateCurrentSpan({ reference, runId: options.runId })
  yield* Effect.logInfo("Starting to send delay notifications.").pipe(Effect.annotateLogs({ startDate: reference }))
  const counts = { delayed: 0, sent: 0, failed: 0, deadLetters: 0, retried: 0, skipped: 0, released: 0, claimsLost: 0 }
  const stop = yield* Deferred.make<StopReason>()
  // Read on every todo: a plain flag, set together with the Deferred.
  let stopRequested = false
  const requestStop = (reason: StopReason) =>
    Effect.suspend(() => {
      stopRequested = true
      return Deferred.succeed(stop, reason)
    })
  // A small circuit breaker: enough transient failures in a row mean the service is down.
  let failuresInARow = 0
  const outageAfter = options.outageAfter ?? 20
  const onTransientFailure = Effect.suspend(() =>
    ++failuresInARow >= outageAfter ? Effect.asVoid(requestStop("outage")) : Effect.void
  )
  let rejected: ClientRejected | undefined
  // Batches claimed and not yet written (all their claims still this run's).
  const live = new Set<Batch>()

  // The backlog enters the ledger in parts (TodoRepository.tableParts: a small first part, then the
  // rest) while claims run, so the first notification does not wait for all of it. --fair
  // enqueues in one part: its ranks (one todo of every workspace before a second of any) are
  // computed over what one statement adds.
  let enqueued = false
  const partsAdded = { added: 0, of: 1 }
  const partAdded = yield* Queue.sliding<true>(1)
  const enqueue = Effect.gen(function*() {
    const parts = options.fair === true ? [wholeTable] : yield* repository.tableParts
    partsAdded.of = parts.length
    for (const part of parts) {
      if (stopRequested) break
      const { undecodable } = yield* repository.enqueueDelayed(reference, part)
      partsAdded.added++
      for (const row of undecodable) {
        counts.skipped++
        yield* Effect.logError("Could not read delayed todo. Skipping it...").pipe(
          Effect.annotateLogs({ workspaceId: row.workspaceId, todoId: row.todoId, error: row.reason })
        )
      }
      yield* Queue.offer(partAdded, true)
    }
    enqueued = true
    yield* Queue.offer(partAdded, true)
  })

  // Claims batches until nothing claimable is left, whenever the feed has room (a batch ahead of
  // the workers); while parts are still being added, an empty claim waits for the next part. A
  // claim whose rows had all vanished (deleted todos, moved due dates) returns none, and is not
  // the end.
  const claimBatches = (feed: Feed<Batch>) =>
    Effect.gen(function*() {
      while (!stopRequested) {
        yield* feed.wantMore
        if (stopRequested) break
        // Read before the claim: once every part is in, an empty claim is the end.
        const allIn = enqueued
        const claimedAt = clock.unsafeCurrentTimeMillis()
        const { dropped, todos } = yield* repository.claim({
          owner: options.runId,
          size: options.batchSize,
          lease: options.lease,
          order: options.fair === true ? "fair" : "oldest-first"
        })
        if (todos.length === 0 && dropped > 0) continue
        if (todos.length === 0 && allIn) break
        if (todos.length === 0) {
          yield* Queue.take(partAdded)
          continue
        }
        const span = yield* Effect.makeSpan("batch", { attributes: { size: todos.length } })
        const batch: Batch = { items: todos, next: 0, outcomes: [], deadline: claimedAt + leaseMs, span }
        live.add(batch)
        feed.add(batch)
      }
    }).pipe(Effect.ensuring(Effect.sync(() => feed.end())))

  // Every quarter of the lease, the live claims are extended; a batch's deadline moves on only
  // when the renewal surely covered it (claimed before the renewal began, and not yet lapsed).
  const renewClaims = Effect.gen(function*() {
    let warned = false
    while (true) {
      yield* Effect.sleep(Duration.millis(leaseMs / 4))
      const startedRenewal = clock.unsafeCurrentTimeMillis()
      const held = [...live].filter((batch) => batch.deadline > startedRenewal)
      const renewed = yield* Effect.either(repository.renew(options.runId, options.lease))
      if (Either.isRight(renewed)) {
        for (const batch of held) batch.deadline = startedRenewal + leaseMs
      } else if (!warned) {
        warned = true
        yield* Effect.logWarning("Could not renew this run's claims: sends that could outlive them are not started.")
          .pipe(Effect.annotateLogs({ error: renewed.left.message }))
      }
    }
  })

  // Every period: counts, what is left to claim (one count query), rate and estimated end.
  const reportProgress = Effect.gen(function*() {
    const progress = yield* Progress
    const every = options.progressEvery ?? Duration.seconds(10)
    let before = { at: clock.unsafeCurrentTimeMillis(), done: 0 }
    while (true) {
      yield* Effect.sleep(every)
      const left = yield* Effect.option(repository.leftToClaim)
      const now = clock.unsafeCurrentTimeMillis()
      const done = counts.sent + counts.failed + counts.deadLetters
      const perSecond = ((done - before.done) * 1000) / Math.max(1, now - before.at)
      before = { at: now, done }
      let inHand = 0
      for (const batch of live) inHand += batch.items.length - batch.outcomes.length
      const leftToClaim = Option.getOrUndefined(left)
      yield* progress.report({
        sent: counts.sent,
        failed: counts.failed,
        deadLetters: counts.deadLetters,
        leftToClaim,
        inHand,
        perSecond,
        enqueueing: enqueued ? undefined : partsAdded,
        estimatedEnd: enqueued && leftToClaim !== undefined && perSecond > 0
          ? DateTime.unsafeMake(now + ((leftToClaim + inHand) / perSecond) * 1000)
          : undefined,
        elapsed: Duration.millis(now - startedAt)
      })
    }
  }).pipe(Effect.ensuring(Effect.flatMap(Progress, (progress) => progress.end)))

  const count = (outcome: Outcome, by: 1 | -1) => {
    if (outcome._tag === "Released") counts.released += by
    else {
      counts.delayed += by
      if (outcome._tag === "Sent") counts.sent += by
      else if (outcome._tag === "RetryLater") counts.failed += by
      else counts.deadLetters += by
    }
  }

  // Outcomes of claims another run had taken over: not this run's, and not counted as its own.
  const disown = (notHeld: ReadonlyArray<Outcome>) =>
    notHeld.length === 0 ? Effect.void : Effect.suspend(() => {
      for (const outcome of notHeld) count(outcome, -1)
      counts.claimsLost += notHeld.length
      return Effect.logWarning("Outcomes of claims this run no longer held were not recorded.").pipe(
        Effect.annotateLogs({
          claimsLost: notHeld.length,
          todos: notHeld.slice(0, 20).map(({ _tag, todo }) => `${todo.workspaceId}/${todo.id}/${todo.dueDate} ${_tag}`)
        })
      )
    })

  const write = (batch: Batch) =>
    repository.record(options.runId, batch.outcomes).pipe(
      Effect.flatMap(({ notHeld }) => disown(notHeld)),
      Effect.tap(() => Effect.sync(() => live.delete(batch))),
      Effect.withParentSpan(batch.span),
      Effect.onExit((exit) => Effect.flatMap(Clock.currentTimeNanos, (end) => Effect.sync(() => batch.span.end(end, exit))))
    )

  // Counts a todo's outcome into its batch; true when that was the batch's last (to be written).
  const settle = (batch: Batch, outcome: Outcome): boolean => {
    count(outcome, 1)
    if (outcome._tag === "Sent") failuresInARow = 0
    batch.outcomes.push(outcome)
    return batch.outcomes.length === batch.items.length
  }

  // When the run ends however it ends: what is known of the batches not yet written is written;
  // sends still unanswered keep their claims (resent, same key, after the lease).
  const writeKnownOutcomes = Effect.gen(function*() {
    let unwritten: Unwritten | undefined
    for (const batch of [...live]) {
      // Never taken up (the run was cut short): handed back untried.
      for (; batch.next < batch.items.length; batch.next++) {
        const outcome: Outcome = { _tag: "Released", todo: batch.items[batch.next]! }
        count(outcome, 1)
        batch.outcomes.push(outcome)
      }
      if (batch.outcomes.length === 0) continue
      const written = yield* Effect.either(write(batch))
      if (Either.isLeft(written)) {
        unwritten = { outcomes: (unwritten?.outcomes ?? 0) + batch.outcomes.length, error: written.left.message }
      }
    }
    if (unwritten !== undefined) {
      yield* Effect.logError(
        "Could not record some outcomes: those todos stay claimed until their lease ends, and are sent again " +
          "with the same Idempotency-Key (the notify service creates nothing twice)."
      ).pipe(Effect.annotateLogs({ unrecorded: unwritten.outcomes, error: unwritten.error }))
    }
  }).pipe(Effect.uninterruptible)

  const sendAll = Effect.gen(function*() {
    const limiter = options.rate === undefined
      ? undefined
      : yield* rateLimiter(options.rate)
    // The rate limit counts requests: the first of a send waits here, its retries in the client.
    const pace = limiter === undefined ? undefined : limiter(Effect.void)
    // A wait for the rate limit ends at once when a stop is requested (then: false).
    const waitTurn = limiter === undefined
      ? undefined
      : Effect.raceFirst(limiter(Effect.succeed(true)), Effect.as(Deferred.await(stop), false))
    const released = (todo: ClaimedTodo): Effect.Effect<Outcome> => Effect.succeed({ _tag: "Released", todo })
    const hooks: NotifyHooks = {
      onTransientFailure,
      telemetry,
      pace,
      onRetried: (retries) => (counts.retried += retries),
      // Handed back untried, and the run stops.
      onRejected: (error, todo) =>
        Effect.zipRight(
          rejected === undefined
            ? Effect.zipRight(Effect.sync(() => (rejected = error)), requestStop("credentials-rejected"))
            : Effect.void,
          released(todo)
        )
    }
    const send = (todo: ClaimedTodo, batch: Batch): Effect.Effect<Outcome> => {
      // Stopping, or the claim could lapse before the send ends: handed back untried.
      if (stopRequested || clock.unsafeCurrentTimeMillis() + longestMs > batch.deadline) return released(todo)
      const sent = notifyTodo(client, todo, options.retry, hooks)
      // Under its batch's span when traces are exported; not worth a context per todo otherwise.
      return telemetry ? Effect.withParentSpan(sent, batch.span) : sent
    }
    // Called as a worker takes the todo up.
    const handle = (todo: ClaimedTodo, batch: Batch) =>
      waitTurn === undefined || stopRequested
        ? send(todo, batch)
        : Effect.flatMap(waitTurn, (go) => (go ? send(todo, batch) : released(todo)))

    // A fixed set of workers takes todos from the batches in hand, in claim order; the claims
    // stay a batch (or a worker each) ahead of them.
    const feed = yield* makeFeed<Batch>(Math.max(options.batchSize, options.concurrency))
    const worker = Effect.gen(function*() {
      while (true) {
        const taken = yield* feed.take
        if (taken === undefined) return
        const [todo, batch] = taken
        const outcome = yield* handle(todo, batch)
        if (settle(batch, outcome)) yield* write(batch)
      }
    })
    const pipeline = Effect.all([claimBatches(feed), ...Array.from({ length: options.concurrency }, () => worker)], {
      concurrency: "unbounded",
      discard: true
    })
    yield* Effect.forkScoped(renewClaims)
    yield* Effect.forkScoped(reportProgress)
    // Cut off after the grace period: what was in flight stays claimed and is resent, same key, next run.
    yield* Effect.ensuring(pipeline, writeKnownOutcomes)
  }).pipe(Effect.scoped)

  const grace = options.grace ?? Duration.seconds(20)
  // Completes only when the grace period after a signal is over; the run normally ends first. It
  // covers the enqueue too: a signal then lets the part being added finish within the grace period, and no other part is added.
  const graceOver = options.stopSignal === undefined ? Effect.never : options.stopSignal.pipe(
    Effect.tap((signal) => requestStop(signal)),
    Effect.tap((signal) =>
      Effect.logWarning("Stopping: claiming no more; in-flight notifications may finish.").pipe(
        Effect.annotateLogs({ signal, gracePeriod: Duration.format(grace) })
      )
    ),
    Effect.zipRight(Effect.sleep(grace)),
    Effect.zipRight(Effect.logError("The grace period ended: in-flight notifications were cut off."))
  )

  yield* Effect.raceFirst(Effect.all([enqueue, sendAll], { concurrency: 2, discard: true }), graceOver).pipe(
    Effect.tapError((error) =>
      Effect.logError("Could not retrieve delayed todos from the database. Aborting job...").pipe(
        Effect.annotateLogs({ startDate: reference, error: error.message, sent: counts.sent, failed: counts.failed })
      )
    )
  )
  const stopped = stopRequested ? yield* Deferred.await(stop) : undefined
  if (stopped === "outage") {
    yield* Effect.logError("The notify service looks down: stopped sending. Aborting job...").pipe(
      Effect.annotateLogs({ startDate: reference, failuresInARow: outageAfter, released: counts.released })
    )
  }
  if (stopped === "credentials-rejected" && rejected !== undefined) {
    yield* Effect.logError("The auth service refused the job's client credentials: stopped sending. Aborting job...").pipe(
      Effect.annotateLogs({ startDate: reference, error: rejected.message, released: counts.released })
    )
  }
  if (counts.delayed === 0 && counts.skipped === 0 && stopped === undefined) {
    yield* Effect.logInfo("Nothing was pending.").pipe(Effect.annotateLogs({ startDate: reference }))
  }
  const durationMs = clock.unsafeCurrentTimeMillis() - startedAt
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
  yield* Effect.logInfo("Dry run: listing the delay notifications a run would send now; nothing is claimed or sent.")
    .pipe(Effect.annotateLogs({ startDate: reference }))
  let wouldSend = 0
  yield* Stream.runForEach(repository.pending(reference), (todo) => {
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
