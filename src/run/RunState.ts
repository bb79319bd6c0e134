/**
 * A run's state: its counts, the consecutive-failure breaker, and the request to stop (a signal,
 * an outage, refused credentials). Every fiber of the run reads and writes it. The fields are
 * plain mutable values, not Refs: they are read and counted once per notification, and a Ref step
 * per todo showed in the profile of a run; the fibers share one thread.
 */
import { Deferred, Effect } from "effect"
import type { RunSummary, StopReason } from "../domain/RunSummary.js"
import type { ClientRejected } from "../services/ServiceTokens.js"
import type { Outcome } from "../services/TodoRepository.js"

/** What a run counts as it goes: the numbers of its summary. */
export type RunCounts = {
  -readonly [
    K in
      | "delayed"
      | "sent"
      | "failed"
      | "deadLetters"
      | "retried"
      | "throttled"
      | "skipped"
      | "released"
      | "claimsLost"
      | "unrecorded"
  ]:
    RunSummary[K]
}

export class RunState {
  readonly counts: RunCounts = {
    delayed: 0,
    sent: 0,
    failed: 0,
    deadLetters: 0,
    retried: 0,
    throttled: 0,
    skipped: 0,
    released: 0,
    claimsLost: 0,
    unrecorded: 0
  }
  /** Set together with `stop`: a flag read per todo, where awaiting the Deferred would cost a step. */
  stopRequested = false
  /**
   * After a stop signal: when the process must be gone (by the run's Clock, in milliseconds), the
   * grace period and the time after it for the last writes.
   */
  exitBy: number | undefined
  /**
   * The latest a todo handed back for its workspace's turn comes due (epoch ms, by the run's
   * Clock): the run's claims go on until then, so that it sends them itself.
   */
  comeBackBy = 0
  /** The auth service's refusal of the job's credentials, when it came. */
  rejected: ClientRejected | undefined
  /** Transient failures in a row (after their retries); a sent notification resets it. */
  private failuresInARow = 0

  private constructor(
    private readonly stop: Deferred.Deferred<StopReason>,
    /** The notify service counts as down after this many notifications in a row fail transiently. */
    readonly outageAfter: number
  ) {}

  static make = (outageAfter: number): Effect.Effect<RunState> =>
    Effect.map(Deferred.make<StopReason>(), (stop) => new RunState(stop, outageAfter))

  /** Claim no more, and let what is in flight finish (the first reason given is kept). */
  requestStop(reason: StopReason): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.stopRequested = true
      return Effect.asVoid(Deferred.succeed(this.stop, reason))
    })
  }

  /** Completes with the reason once a stop is requested. */
  get stopped(): Effect.Effect<StopReason> {
    return Deferred.await(this.stop)
  }

  /** Why the run stopped early, once it has ended; undefined when it ran out of work. */
  get stopReason(): Effect.Effect<StopReason | undefined> {
    return this.stopRequested ? Deferred.await(this.stop) : Effect.succeed(undefined)
  }

  /** The breaker: one more transient failure in a row; enough of them stop the run (an outage). */
  readonly onTransientFailure: Effect.Effect<void> = Effect.suspend(() =>
    ++this.failuresInARow >= this.outageAfter ? this.requestStop("outage") : Effect.void
  )

  /** The auth service refused the job's credentials: noted once, and the run stops. */
  credentialsRejected(error: ClientRejected): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.rejected !== undefined) return Effect.void
      this.rejected = error
      return this.requestStop("credentials-rejected")
    })
  }

  /** Counts an outcome in (1) or out again (-1: a claim this run no longer held). */
  count(outcome: Outcome, by: 1 | -1): void {
    const counts = this.counts
    if (outcome._tag === "Released") {
      if (outcome.inTurn !== true) counts.released += by
    }
    else {
      counts.delayed += by
      if (outcome._tag === "Sent") counts.sent += by
      else if (outcome._tag === "RetryLater") counts.failed += by
      else counts.deadLetters += by
    }
    if (by === 1 && outcome._tag === "Sent") this.failuresInARow = 0
  }
}
