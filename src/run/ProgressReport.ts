/**
 * A run's progress, every period (10 seconds unless --progress says otherwise): what was sent and
 * failed, what is left to claim (one count query), what is in hand, the rate, the concurrency
 * limit (and requests throttled), the estimated end, and while the backlog is still entering the ledger, how many parts are in. Where it goes
 * (a log line, or a bar on a terminal) is the Progress service's.
 */
import { DateTime, Duration, Effect, Option } from "effect"
import { Progress } from "../services/Progress.js"
import type { Run } from "./Run.js"

/** Reports until interrupted; the Progress service is told when it ends (the bar is cleared). */
export const reportProgress = Effect.fn("Run.reportProgress")(
  function*(run: Run) {
    const progress = yield* Progress
    const { clock } = run
    const { counts } = run.state
    const every = run.options.progressEvery ?? Duration.seconds(10)
    let before = { at: clock.unsafeCurrentTimeMillis(), done: 0 }
    while (true) {
      yield* Effect.sleep(every)
      const left = yield* Effect.option(run.repository.leftToClaim)
      const now = clock.unsafeCurrentTimeMillis()
      const done = counts.sent + counts.failed + counts.deadLetters
      const perSecond = ((done - before.done) * 1000) / Math.max(1, now - before.at)
      before = { at: now, done }
      let inHand = 0
      for (const batch of run.live) inHand += batch.items.length - batch.outcomes.length
      const leftToClaim = Option.getOrUndefined(left)
      const enqueued = run.enqueueing.done
      yield* progress.report({
        sent: counts.sent,
        failed: counts.failed,
        deadLetters: counts.deadLetters,
        leftToClaim,
        inHand,
        perSecond,
        concurrency: run.limit.current(),
        throttled: counts.throttled,
        enqueueing: enqueued ? undefined : { added: run.enqueueing.added, of: run.enqueueing.of },
        estimatedEnd: enqueued && leftToClaim !== undefined && perSecond > 0
          ? DateTime.unsafeMake(now + ((leftToClaim + inHand) / perSecond) * 1000)
          : undefined,
        elapsed: Duration.millis(now - run.startedAt)
      })
    }
  },
  Effect.ensuring(Effect.flatMap(Progress, (progress) => progress.end))
)
