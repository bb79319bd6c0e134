/**
 * The send side of a run: a fixed set of workers takes the claimed todos in claim order, each
 * waits its turn under the rate limit, sends, and settles the outcome into its batch; the last
 * outcome of a batch writes it. A todo whose claim could lapse mid-send, or taken up once a stop
 * is requested, is handed back untried.
 */
import { Duration, Effect, RateLimiter } from "effect"
import type { ClaimedTodo } from "../domain/Todo.js"
import type { Feed } from "../lib/Feed.js"
import type { DatabaseError } from "../services/DatabaseErrors.js"
import type { Outcome } from "../services/TodoRepository.js"
import { type NotifyHooks, notifyTodo } from "./NotifyTodo.js"
import { settle, writeBatch } from "./Outcomes.js"
import type { Batch, Run } from "./Run.js"

/**
 * At most `rate` requests in any second: permits come evenly (a burst of at most a hundredth of
 * the rate), where a bucket of a whole second's permits would let twice the rate through in one.
 */
const rateLimiter = (rate: number) => {
  const burst = Math.max(1, Math.round(rate / 100))
  return RateLimiter.make({ limit: burst, interval: Duration.millis((burst * 1000) / rate), algorithm: "token-bucket" })
}

const released = (todo: ClaimedTodo): Effect.Effect<Outcome> => Effect.succeed({ _tag: "Released", todo })

/** Runs `concurrency` workers over the feed until it ends (scoped: the rate limiter's). */
export const runWorkers = (run: Run, feed: Feed<Batch>) =>
  Effect.gen(function*() {
    const { clock, options, state, telemetry } = run
    const limiter = options.rate === undefined ? undefined : yield* rateLimiter(options.rate)
    // One permit, two ways to wait for it: the retries of a send (in the client) wait for it
    // whatever comes; the first request of a send stops waiting when a stop is requested (false).
    const pace = limiter === undefined ? undefined : limiter(Effect.void)
    const waitTurn = limiter === undefined
      ? undefined
      : Effect.raceFirst(limiter(Effect.succeed(true)), Effect.as(state.stopped, false))
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
