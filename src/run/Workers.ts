/**
 * The send side of a run: a fixed set of workers takes the claimed todos in claim order, each
 * waits its turn under the rate limit, sends, and settles the outcome into its batch; the last
 * outcome of a batch writes it. A todo whose claim could lapse mid-send, or taken up once a stop
 * is requested, is handed back untried.
 */
import { Effect } from "effect"
import type { ClaimedTodo } from "../domain/Todo.js"
import type { Feed } from "../lib/Feed.js"
import { makePacer } from "../lib/Pacer.js"
import type { DatabaseError } from "../services/DatabaseErrors.js"
import type { Outcome } from "../services/TodoRepository.js"
import { type NotifyHooks, notifyTodo } from "./NotifyTodo.js"
import { settle, writeBatch } from "./Outcomes.js"
import type { Batch, Run } from "./Run.js"

const released = (todo: ClaimedTodo): Effect.Effect<Outcome> => Effect.succeed({ _tag: "Released", todo })

/** Runs `concurrency` workers over the feed until it ends (scoped: the rate limiter's). */
export const runWorkers = (run: Run, feed: Feed<Batch>) =>
  Effect.gen(function*() {
    const { clock, options, state, telemetry } = run
    const pace = options.rate === undefined ? undefined : yield* makePacer(options.rate)
    // One turn, two ways to wait for it: the retries of a send (in the client) wait for it
    // whatever comes; the first request of a send stops waiting when a stop is requested (false).
    const waitTurn = pace === undefined
      ? undefined
      : Effect.raceFirst(Effect.as(pace, true), Effect.as(state.stopped, false))
    const hooks: NotifyHooks = {
      onTransientFailure: state.onTransientFailure,
      telemetry,
      pace,
      onRetried: (retries) => (state.counts.retried += retries),
      // Handed back untried, and the run stops.
      onRejected: (error, todo) => Effect.zipRight(state.credentialsRejected(error), released(todo))
    }
    const notify = notifyTodo(telemetry)
    const send = (todo: ClaimedTodo, batch: Batch): Effect.Effect<Outcome> => {
      // Stopping, or the claim could lapse before the send ends: handed back untried.
      if (state.stopRequested || clock.unsafeCurrentTimeMillis() + run.longestSendMs > batch.deadline) return released(todo)
      // Under its batch's span when traces are exported; not worth a context per todo otherwise.
      return telemetry.under(notify(run.client, todo, options.retry, hooks), batch.span)
    }
    // Called as a worker takes the todo up.
    const handle = (todo: ClaimedTodo, batch: Batch) =>
      waitTurn === undefined || state.stopRequested
        ? send(todo, batch)
        : Effect.flatMap(waitTurn, (go) => (go ? send(todo, batch) : released(todo)))
    // A loop of combinators, not a generator: a generator's step and the pair of a taken todo
    // and its batch were allocations per notification (bench/RESULTS.md, item 16).
    const worker: Effect.Effect<void, DatabaseError> = Effect.suspend(() => {
      const batch = feed.poll()
      if (batch === undefined) return feed.done() ? Effect.void : Effect.zipRight(feed.ready, worker)
      return Effect.flatMap(
        handle(batch.items[batch.next - 1]!, batch),
        (outcome) => (settle(run, batch, outcome) ? Effect.zipRight(writeBatch(run, batch), worker) : worker)
      )
    })
    yield* Effect.all(Array.from({ length: options.concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  }).pipe(Effect.scoped)
