/**
 * The write side of a run: a todo's outcome settled into its batch, a finished batch written back
 * to the ledger in one statement, and, however the run ends, what is known of the batches still
 * in hand.
 */
import { Clock, Effect, Either } from "effect"
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
    Effect.tap(() => Effect.sync(() => run.live.delete(batch))),
    Effect.withParentSpan(batch.span),
    Effect.onExit((exit) => Effect.flatMap(Clock.currentTimeNanos, (end) => Effect.sync(() => batch.span.end(end, exit))))
  )

/**
 * When the run ends however it ends: what is known of the batches not yet written is written
 * (todos never taken up are handed back untried); sends still unanswered keep their claims
 * (resent, same key, after the lease). Outcomes that cannot be written are logged with their number.
 */
export const writeKnownOutcomes = (run: Run) =>
  Effect.gen(function*() {
    let unwritten = 0
    let lastError = ""
    for (const batch of [...run.live]) {
      for (; batch.next < batch.items.length; batch.next++) {
        settle(run, batch, { _tag: "Released", todo: batch.items[batch.next]! })
      }
      if (batch.outcomes.length === 0) continue
      const written = yield* Effect.either(writeBatch(run, batch))
      if (Either.isLeft(written)) {
        unwritten += batch.outcomes.length
        lastError = written.left.message
      }
    }
    if (unwritten > 0) {
      yield* Effect.logError(
        "Could not record some outcomes: those todos stay claimed until their lease ends, and are sent again " +
          "with the same Idempotency-Key (the notify service creates nothing twice)."
      ).pipe(Effect.annotateLogs({ unrecorded: unwritten, error: lastError }))
    }
  }).pipe(Effect.uninterruptible)
