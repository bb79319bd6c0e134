/**
 * The send side of a run: workers, as many as the concurrency's ceiling, of which the first
 * `limit.current()` send; each takes the next claimed todo (a throttled one set aside whose time
 * has come first), waits its turn under the rate limit, sends, and settles the outcome into its
 * batch; the last outcome of a batch writes it. A todo whose claim could lapse mid-send, or taken
 * up once a stop is requested, is handed back untried. A throttled todo is set aside (Throttling)
 * and the limit told; the workers end once nothing is left to take, set aside or in flight. A send
 * in flight past the loss timer's timeout (LossTimer) holds no slot of the limit any more: its
 * worker waits on for it, and one more worker may send.
 */
import { Duration, Effect, Random, Schedule } from "effect"
import type { ClaimedTodo } from "../domain/Todo.js"
import type { Feed } from "../lib/Feed.js"
import { makeLossTimer } from "../lib/LossTimer.js"
import { makePacer, type Pacer } from "../lib/Pacer.js"
import { Metrics } from "../lib/Telemetry.js"
import type { DatabaseError } from "../services/DatabaseErrors.js"
import type { Outcome } from "../services/TodoRepository.js"
import { type NotifyHooks, notifyTodo, type Sent, type Throttled } from "./NotifyTodo.js"
import { makeGates } from "./Gates.js"
import { settle, writeBatch } from "./Outcomes.js"
import type { Batch, Run } from "./Run.js"
import { longestWaitMs, turnHorizonMs } from "./Throttling.js"

/** How often the sends in flight are checked against the loss timer. */
const lossCheckMs = 250

const released = (todo: ClaimedTodo): Effect.Effect<Outcome> => Effect.succeed({ _tag: "Released", todo })

/** Runs the workers over the feed until it ends and nothing is set aside or in flight (scoped: the pacer's). */
export const runWorkers = Effect.fn("Run.runWorkers")(
  function*(run: Run, feed: Feed<Batch>) {
    const { clock, limit, options, state, telemetry, throttling } = run
    const pacer = options.rate === undefined ? undefined : yield* makePacer(options.rate)
    // One turn, two ways to wait for it: the first request of a send stops waiting when a stop is
    // requested (false, and the todo is handed back); its retries wait whatever comes.
    if (pacer !== undefined) yield* Effect.forkScoped(Effect.zipRight(state.stopped, Effect.sync(pacer.close)))
    const hooks: NotifyHooks = {
      onTransientFailure: Effect.zipRight(Effect.sync(() => limit.overloaded(clock.unsafeCurrentTimeMillis())), state.onTransientFailure),
      telemetry,
      onRetried: (retries) => (state.counts.retried += retries),
      // Handed back untried, and the run stops.
      onRejected: (error, todo) => Effect.zipRight(state.credentialsRejected(error), released(todo))
    }
    const notify = notifyTodo(telemetry)
    const send = (todo: ClaimedTodo, batch: Batch, index: number): Effect.Effect<Outcome | Throttled> => {
      // Stopping, or the claim could lapse before the send ends: handed back untried.
      if (state.stopRequested || clock.unsafeCurrentTimeMillis() + run.longestSendMs > batch.deadline) return released(todo)
      // Under its batch's span when traces are exported; not worth a context per todo otherwise.
      if (pacer === undefined) return telemetry.under(notify(run.client, todo, options.retry, hooks), batch.span)
      return telemetry.under(sendPaced(pacer, todo, index), batch.span)
    }
    // Sends under the rate waiting for their first turn (their token is fetched before it), or for
    // the client's turn when it is paced: taken up, not yet at the notify service.
    let waitingForTurn = 0
    const sendPaced = (pacer: Pacer, todo: ClaimedTodo, index: number) => {
      let waiting = true
      waitingForTurn++
      const over = () => {
        if (waiting) waitingForTurn--
        waiting = false
      }
      const first = Effect.map(pacer.turn, (go) => {
        over()
        sentAt[index] = clock.unsafeCurrentTimeMillis()
        return go
      })
      const turns = { first, next: pacer.always }
      return Effect.ensuring(notify(run.client, todo, options.retry, { ...hooks, turns }), Effect.sync(over))
    }

    // Logged once; the summary counts the requests throttled.
    const firstThrottled = Effect.logWarning(
      "The notify service is throttling the job: slowing down, and sending the throttled todos again later."
    ).pipe(Effect.annotateLogs({ startDate: run.reference }))
    let ended = false
    // When each worker's send started (-1: none, or waiting for its turn under the rate), and whether
    // it was taken for lost (then it holds no slot of the limit).
    const sentAt = new Float64Array(options.concurrency).fill(-1)
    const lostOne = new Uint8Array(options.concurrency)
    const lossTimer = makeLossTimer()
    // Each worker's gate (Gates: who may send, who is woken). And a pulse for workers waiting on
    // others (a todo set aside, the last send in flight answered).
    const latches = Array.from({ length: options.concurrency }, () => Effect.unsafeMakeLatch(true))
    const gates = makeGates(options.concurrency, limit.current, (index) => latches[index]!.unsafeOpen())
    const changed = Effect.unsafeMakeLatch(false)
    const pulse = () => {
      changed.unsafeOpen()
      changed.unsafeClose()
    }
    limit.listen(gates.openAll)
    // The sends past the loss timer's timeout are taken for lost: the run goes on beside them (their
    // NOTIFY_TIMEOUT, when it comes, tells the limit as any timeout does).
    const takeLost = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      let found = false
      for (let i = 0; i < sentAt.length; i++) {
        if (sentAt[i]! < 0 || lostOne[i] === 1 || now - sentAt[i]! < lossTimer.lostAfterMs()) continue
        lostOne[i] = 1
        gates.lost++
        lossTimer.lost()
        found = true
      }
      if (found) gates.openAll()
    })
    yield* Effect.forkScoped(Effect.repeat(takeLost, Schedule.spaced(Duration.millis(lossCheckMs))))

    // A todo that must wait until `until`: set aside in its workspace's turn (`first`: a throttled
    // one, before the others of its workspace), or, when that is too far off or the run is
    // stopping, handed back with the wait (its batch written when that was its last outcome).
    const wait = (todo: ClaimedTodo, batch: Batch, until: number, now: number, first: boolean): Effect.Effect<void, DatabaseError> => {
      const soon = until - now <= longestWaitMs && !state.stopRequested
      // Once the claims have ended, nothing handed back would be claimed again in this run.
      if (soon && (first || until - now <= turnHorizonMs || feed.ended())) {
        throttling.setAside(todo, batch, until, first, now)
        feed.aside(1)
        pulse()
        return Effect.void
      }
      let outcome: Outcome = { _tag: "Released", todo, retryIn: Duration.millis(Math.max(0, until - now)) }
      if (soon) {
        const backIn = throttling.backAt(todo.workspaceId, until, now) - now
        outcome = { _tag: "Released", todo, retryIn: Duration.millis(backIn), inTurn: true }
        batch.backInMs = Math.max(batch.backInMs ?? 0, backIn)
      }
      return settle(run, batch, outcome) ? writeBatch(run, batch) : Effect.void
    }
    const releaseAllSetAside = (now: number) =>
      Effect.forEach(throttling.takeAll(now), (entry) => {
        feed.aside(-1)
        return wait(entry.todo, entry.batch, entry.notBefore, now, false)
      }, { discard: true })

    const worker = (index: number): Effect.Effect<void, DatabaseError> => {
      const gate = latches[index]!
      // A loop of combinators, not a generator: a generator's step and the pair of a taken todo
      // and its batch were allocations per notification.
      const step: Effect.Effect<void, DatabaseError> = Effect.suspend(() => {
        if (ended) return Effect.void
        if (!gates.mayGo(index)) {
          gate.unsafeClose()
          gates.wait(index)
          return Effect.zipRight(gate.await, step)
        }
        const now = clock.unsafeCurrentTimeMillis()
        const due = throttling.waiting() === 0 ? undefined : throttling.takeDue(now)
        if (due !== undefined) {
          feed.aside(-1)
          return due.inTurn ? send1(due.todo, due.batch, now) : start(due.todo, due.batch, now)
        }
        const batch = feed.poll()
        return batch === undefined ? idle(now) : start(batch.items[batch.next - 1]!, batch, now)
      })
      // A todo taken from the feed: sent now, or set aside for its turn.
      const start = (todo: ClaimedTodo, batch: Batch, now: number): Effect.Effect<void, DatabaseError> => {
        const turn = state.stopRequested ? undefined : throttling.turnAt(todo.workspaceId, now)
        return turn === undefined ? send1(todo, batch, now) : Effect.zipRight(wait(todo, batch, turn, now, false), step)
      }
      // A send, at the client's turn when the client is paced (Throttling; none once stopping: it
      // is handed back untried): in flight from here.
      const send1 = (todo: ClaimedTodo, batch: Batch, now: number): Effect.Effect<void, DatabaseError> => {
        gates.inFlight++
        const gap = state.stopRequested ? 0 : throttling.clientGap(now)
        if (gap === 0) return sendNow(todo, batch, now)
        // Waiting for the client's turn is not being in flight at the service (the limit grows on what is).
        waitingForTurn++
        return Effect.zipRight(Effect.sleep(Duration.millis(gap)), Effect.suspend(() => {
          waitingForTurn--
          return sendNow(todo, batch, clock.unsafeCurrentTimeMillis())
        }))
      }
      const sendNow = (todo: ClaimedTodo, batch: Batch, now: number): Effect.Effect<void, DatabaseError> => {
        sentAt[index] = pacer === undefined ? now : -1
        return Effect.flatMap(send(todo, batch, index), (result) => {
          gates.inFlight--
          const end = clock.unsafeCurrentTimeMillis()
          const started = sentAt[index]!
          sentAt[index] = -1
          if (lostOne[index] === 1) {
            lostOne[index] = 0
            gates.lost--
          }
          gates.sendEnded()
          let next: Effect.Effect<void, DatabaseError> = step
          if (result._tag === "Throttled") {
            next = Effect.flatMap(Random.next, (random) =>
              Effect.zipRight(wait(todo, batch, throttling.throttled(todo, result.retryAfterMs, result.kind, now, end, random), end, true), step))
            if (state.counts.throttled++ === 0) next = Effect.zipRight(firstThrottled, next)
            // Nothing accepted for a while, only turned away: the rest is left for a later run.
            if (throttling.refusingAll(end)) next = Effect.zipRight(state.requestStop("throttled"), next)
            next = Effect.zipRight(telemetry.counted(Metrics.throttled, undefined), next)
          } else {
            if (result._tag === "Sent") {
              // The service's own time when the client measured it; in flight at the service: not
              // counting sends still waiting for their turn under the rate, nor those taken for lost.
              const ms = (result as Sent).serviceMs ?? end - now
              limit.answered(ms, end, gates.inFlight + 1 - gates.lost - waitingForTurn)
              if (started >= 0) lossTimer.answered(ms)
              throttling.accepted(todo.workspaceId, end)
            }
            if (settle(run, batch, result)) next = Effect.zipRight(writeBatch(run, batch), step)
          }
          if (gates.inFlight === 0) pulse()
          return next
        })
      }
      // Nothing to take now: wait for the feed, for a todo set aside to come due, or for the
      // sends still in flight; end when nothing is left anywhere.
      const idle = (now: number): Effect.Effect<void, DatabaseError> => {
        const due = throttling.nextDue()
        const untilDue = due === undefined ? undefined : Effect.sleep(Duration.millis(Math.max(0, due - now)))
        if (!feed.done()) return Effect.zipRight(untilDue === undefined ? feed.ready : Effect.raceFirst(feed.ready, untilDue), step)
        if (due !== undefined && state.stopRequested) return Effect.zipRight(releaseAllSetAside(now), step)
        if (untilDue !== undefined) return Effect.zipRight(Effect.raceFirst(untilDue, changed.await), step)
        if (gates.inFlight > 0) return Effect.zipRight(changed.await, step)
        ended = true
        for (const other of latches) other.unsafeOpen()
        pulse()
        return Effect.void
      }
      return step
    }
    yield* Effect.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)), {
      concurrency: "unbounded",
      discard: true
    })
  },
  Effect.scoped
)
