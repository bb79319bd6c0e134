/**
 * The claim side of a run: the backlog entering the ledger step by step, batches claimed while it
 * does, and the run's live claims renewed until it ends.
 */
import { Duration, Effect, Either, Queue, Stream } from "effect"
import type { Feed } from "../lib/Feed.js"
import { type DatabaseError, stoppedAnswering } from "../services/DatabaseErrors.js"
import { defaultFullPassEvery, type Reading } from "../domain/Reading.js"
import type { Batch, Run } from "./Run.js"

/** Tells the claiming loop that a step of the backlog (or the last) was added. */
export type StepAdded = Queue.Queue<true>

export const makeStepAdded: Effect.Effect<StepAdded> = Queue.sliding<true>(1)

/**
 * What the run reads, at debug level; a warning when the table has no index that would spare it
 * the whole read, or when the record of earlier reads is dated after now.
 */
const logReading = (reading: Reading) =>
  reading._tag === "Window"
    ? Effect.logDebug("Reading the todos due since the last complete read.").pipe(Effect.annotateLogs({ since: reading.since }))
    : reading.reason === "future-record"
    ? Effect.logWarning(
      "The record of earlier reads is dated after now (a clock stepped back, or a restore): not trusted; reading the whole todos table."
    ).pipe(Effect.annotateLogs({
      ...(reading.distrusted?.lastFullPassAt === undefined ? {} : { lastFullPassAt: new Date(reading.distrusted.lastFullPassAt).toISOString() }),
      ...(reading.distrusted?.lastReference === undefined ? {} : { lastReference: reading.distrusted.lastReference })
    }))
    : reading.reason === "no-index"
    ? Effect.logWarning(
      "Reading the whole todos table: it has no index on \"dueDate\" by which a run could read only what is new."
    ).pipe(Effect.annotateLogs({ createIndex: reading.createIndex ?? `CREATE INDEX CONCURRENTLY ON todos ("dueDate")` }))
    : Effect.logDebug("Reading the whole todos table (a full pass).").pipe(Effect.annotateLogs({ reason: reading.reason }))

/**
 * Plans what the run reads (TodoRepository.planReading: a window, or the whole table and why),
 * then adds the todos delayed at the run's reference to the ledger, step by step as the repository
 * gives them (TodoRepository.enqueueDelayed), telling the claiming loop as each is in, so that
 * neither the first notification nor the workers wait for all of them. A stop adds no further
 * step (the one under way ends). --fair enqueues in one step: its ranks (one todo of every
 * workspace before a second of any) are computed over what one statement adds. Rows that cannot
 * be read are logged and counted.
 */
export const enqueueBacklog = Effect.fn("Run.enqueueBacklog")(function*(run: Run, stepAdded: StepAdded) {
  const { enqueueing, options, state } = run
  const reading = yield* run.repository.planReading(run.reference, {
    replay: options.replay === true,
    fullPassEvery: options.fullPassEvery ?? defaultFullPassEvery
  })
  yield* logReading(reading)
  const steps = run.repository.enqueueDelayed(run.reference, {
    reading,
    inOneStep: options.fair === true,
    batchSize: options.batchSize
  })
  yield* Stream.runForEach(Stream.haltWhen(steps, state.stopped), ({ step, steps, undecodable }) =>
    Effect.gen(function*() {
      enqueueing.added = step
      enqueueing.of = steps
      for (const row of undecodable) {
        state.counts.skipped++
        yield* Effect.logError("Could not read delayed todo. Skipping it...").pipe(
          Effect.annotateLogs({ workspaceId: row.workspaceId, todoId: row.todoId, error: row.reason })
        )
      }
      yield* Queue.offer(stepAdded, true)
    }))
  enqueueing.done = true
  yield* Queue.offer(stepAdded, true)
})

/**
 * One claim: a new live batch of the run's, or none (or only rows whose todos had vanished). The
 * claim itself can be interrupted (a stop at the end of the grace period); once it has answered,
 * its rows become a batch of the run's without a break (handed back when the run ends), never
 * claims that nobody holds until their lease lapses.
 */
const claimBatch = (run: Run): Effect.Effect<Batch | "none" | "dropped", DatabaseError> =>
  Effect.suspend(() => {
    const { clock, options } = run
    const claimedAt = clock.unsafeCurrentTimeMillis()
    return Effect.flatMap(
      Effect.interruptible(run.repository.claim({
        owner: options.runId,
        size: options.batchSize,
        lease: options.lease,
        order: options.fair === true ? "fair" : "oldest-first"
      })),
      ({ dropped, todos }): Effect.Effect<Batch | "none" | "dropped"> => {
        if (todos.length === 0) return Effect.succeed(dropped > 0 ? "dropped" as const : "none" as const)
        return Effect.map(Effect.makeSpan("batch", { attributes: { size: todos.length }, parent: run.span }), (span) => {
          const batch: Batch = { items: todos, next: 0, outcomes: [], deadline: claimedAt + run.leaseMs, span }
          run.live.add(batch)
          return batch
        })
      }
    )
  }).pipe(Effect.uninterruptible)

/**
 * Todos of the run's wait in the ledger for their workspace's turn: handed back by a batch not yet
 * written (they go back with its write), or written and not yet due.
 */
const comingBack = (run: Run) => {
  if (run.clock.unsafeCurrentTimeMillis() < run.state.comeBackBy) return true
  for (const batch of run.live) if (batch.backInMs !== undefined) return true
  return false
}

/** How often a run whose todos wait in the ledger for their workspace's turn looks for the due ones. */
const comeBackPollMs = Duration.millis(250)

/**
 * Claims batches until nothing claimable is left, whenever the feed has room (a batch ahead of the
 * workers); while the backlog is still being added, an empty claim waits for the next step. A claim
 * whose rows had all vanished (deleted todos, moved due dates) returns none, and is not the end.
 */
export const claimBatches = Effect.fn("Run.claimBatches")(
  function*(run: Run, feed: Feed<Batch>, stepAdded: StepAdded) {
    const { state } = run
    while (!state.stopRequested) {
      yield* feed.wantMore
      if (state.stopRequested) break
      // Read before the claim: once every step is in, an empty claim is the end.
      const allIn = run.enqueueing.done
      const todos = yield* claimBatch(run)
      if (todos === "dropped") continue
      // Todos handed back for their workspace's turn come due within the run: it claims them then.
      if (todos === "none" && allIn && comingBack(run)) {
        yield* Effect.sleep(comeBackPollMs)
        continue
      }
      if (todos === "none" && allIn) {
        // At once, in this step: no todo is handed back for a later claim from here on.
        feed.end()
        break
      }
      if (todos === "none") {
        yield* Queue.take(stepAdded)
        continue
      }
      feed.add(todos)
    }
  },
  (claiming, _, feed) => Effect.ensuring(claiming, Effect.sync(() => feed.end()))
)

/**
 * Every quarter of the lease, extends the run's live claims (by the keys of its batches' todos);
 * a batch's deadline moves on only when the renewal surely covered it (claimed before the renewal
 * began, and not yet lapsed).
 * Runs until interrupted. A renewal that failed is logged once (sends that could outlive their
 * claims are then not started, see Workers); one the database did not answer in time fails the
 * run: it can no longer keep its claims, and sends nothing more.
 */
export const renewClaims = Effect.fn("Run.renewClaims")(function*(run: Run) {
  const { clock, leaseMs, options } = run
  let warned = false
  while (true) {
    yield* Effect.sleep(Duration.millis(leaseMs / 4))
    const startedRenewal = clock.unsafeCurrentTimeMillis()
    const held = [...run.live].filter((batch) => batch.deadline > startedRenewal)
    const renewed = yield* Effect.either(
      run.repository.renew(options.runId, options.lease, held.flatMap((batch) => batch.items))
    )
    if (Either.isRight(renewed)) {
      for (const batch of held) batch.deadline = startedRenewal + leaseMs
    } else if (stoppedAnswering(renewed.left)) {
      return yield* renewed.left
    } else if (!warned) {
      warned = true
      yield* Effect.logWarning("Could not renew this run's claims: sends that could outlive them are not started.")
        .pipe(Effect.annotateLogs({ error: renewed.left.message }))
    }
  }
})

/** How often a run checks that the database answers while its statements run. */
export const watchEvery = Duration.seconds(5)

/**
 * Every few seconds, one short round trip (TodoRepository.answers): fails the run when the
 * database stopped answering, within its deadline (DATABASE_TIMEOUT), even while the run only
 * waits on a long statement (a large part of the backlog) whose own deadline is far longer.
 * Runs until interrupted.
 */
export const watchDatabase = Effect.fn("Run.watchDatabase")(function*(run: Run) {
  return yield* Effect.forever(Effect.zipRight(Effect.sleep(watchEvery), run.repository.answers))
})
