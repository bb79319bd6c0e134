/**
 * The write side of a run: a todo's outcome settled into its batch, a finished batch written back
 * to the ledger in one statement, and, however the run ends, what is known of the batches still
 * in hand.
 */
import { Clock, Duration, Effect, Either, Exit, Fiber, identity } from "effect"
import type { Outcome } from "../services/TodoRepository.js"
import type { Batch, Run } from "./Run.js"

/** Counts a todo's outcome into its batch; true when that was the batch's last (to be written). */
export const settle = (run: Run, batch: Batch, outcome: Outcome): boolean => {
  run.state.count(outcome, 1)
  batch.outcomes.push(outcome)
  return batch.outcomes.length === batch.items.length
}

/** Outcomes of claims another run had taken over: not this run's, and not counted as its own. */
const disown = (run: Run, notHeld: ReadonlyArray<Outcome>) =>
  notHeld.length === 0 ? Effect.void : Effect.suspend(() => {
    for (const outcome of notHeld) run.state.count(outcome, -1)
    run.state.counts.claimsLost += notHeld.length
    return Effect.logWarning("Outcomes of claims this run no longer held were not recorded.").pipe(
      Effect.annotateLogs({
        claimsLost: notHeld.length,
        todos: notHeld.slice(0, 20).map(({ _tag, todo }) => `${todo.workspaceId}/${todo.id}/${todo.dueDate} ${_tag}`)
      })
    )
  })

/** Writes a batch's outcomes (under its span, which ends with the write) and lets the batch go. */
export const writeBatch = (run: Run, batch: Batch) =>
  run.repository.record(run.options.runId, batch.outcomes).pipe(
    Effect.flatMap(({ notHeld }) => disown(run, notHeld)),
    Effect.tap(() =>
      Effect.sync(() => {
        run.live.delete(batch)
        // Its todos handed back for their turn come due then (counted from the write, and a
        // second more for the ledger's clock): the run's claims go on until then.
        if (batch.backInMs !== undefined) {
          run.state.comeBackBy = Math.max(run.state.comeBackBy, run.clock.unsafeCurrentTimeMillis() + batch.backInMs + 1000)
        }
      })
    ),
    Effect.withParentSpan(batch.span),
    Effect.onExit((exit) => Effect.flatMap(Clock.currentTimeNanos, (end) => Effect.sync(() => batch.span.end(end, exit))))
  )

/** Time kept, after the last writes of a stopped run, for the process to close its connections and exit. */
const exitMarginMs = 3000

/**
 * When the run ends however it ends: what is known of the batches not yet written is written, in
 * one statement (todos never taken up are handed back untried, throttled ones waiting with the
 * rest of their wait); sends still unanswered keep their
 * claims (resent, same key, after the lease). The write is bounded by its deadline and, after a
 * stop signal, by what is left of the stop's time (RunState.exitBy). It runs in a fiber of its own:
 * a run cut off at the end of its grace period is an interrupted fiber, in which no deadline could
 * interrupt a statement. Outcomes that cannot be written are counted (`unrecorded`) and logged.
 */
export const writeKnownOutcomes = Effect.fn("Run.writeKnownOutcomes")(
  function*(run: Run) {
    const { clock, state } = run
    const now = clock.unsafeCurrentTimeMillis()
    for (const { batch, notBefore, todo } of run.throttling.takeAll(now)) {
      settle(run, batch, { _tag: "Released", todo, retryIn: Duration.millis(Math.max(0, notBefore - now)) })
    }
    const batches = [...run.live]
    for (const batch of batches) {
      for (; batch.next < batch.items.length; batch.next++) {
        settle(run, batch, { _tag: "Released", todo: batch.items[batch.next]! })
      }
    }
    const outcomes = batches.flatMap((batch) => batch.outcomes)
    if (outcomes.length === 0) return
    const leftMs = state.exitBy === undefined ? undefined : state.exitBy - clock.unsafeCurrentTimeMillis() - exitMarginMs
    // Let go when the stop's time runs out, not waited for (its cancel goes on in the background).
    const write = run.repository.record(run.options.runId, outcomes).pipe(
      leftMs === undefined ? identity : (record) => Effect.timeoutFail(Effect.disconnect(record), {
        duration: Duration.millis(Math.max(0, leftMs)),
        onTimeout: () => new Error("the time left after the stop signal ran out")
      }),
      Effect.flatMap(({ notHeld }) => disown(run, notHeld)),
      Effect.either,
      Effect.interruptible
    )
    const written = yield* Fiber.join(yield* Effect.forkDaemon(write))
    const end = yield* Clock.currentTimeNanos
    for (const batch of batches) {
      run.live.delete(batch)
      batch.span.end(end, Either.isRight(written) ? Exit.void : Exit.fail(written.left))
    }
    if (Either.isLeft(written)) {
      state.counts.unrecorded += outcomes.length
      yield* Effect.logError(
        "Could not record some outcomes: those todos stay claimed until their lease ends, and are sent again " +
          "with the same Idempotency-Key (the notify service creates nothing twice)."
      ).pipe(Effect.annotateLogs({ unrecorded: outcomes.length, error: written.left.message }))
    }
  },
  Effect.uninterruptible
)
