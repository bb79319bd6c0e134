/**
 * The port for stop requests from outside (SIGTERM, SIGINT): the run stops claiming and lets
 * in-flight sends finish. Its live layer (Shutdown/Live.ts) listens to the process's signals.
 */
import { Context, type Duration, type Effect } from "effect"
import type { StopSignal } from "../domain/RunSummary.js"

export type { StopSignal } from "../domain/RunSummary.js"

/**
 * A request from outside to stop (Kubernetes' SIGTERM, Ctrl-C's SIGINT). The run is not
 * interrupted at once: it stops claiming and lets in-flight sends finish within a grace period.
 */
export class Shutdown extends Context.Tag("app/Shutdown")<Shutdown, {
  /** Completes with the first signal received. */
  readonly requested: Effect.Effect<StopSignal>
  /**
   * From the first signal on, the process ends within `within` whatever is still running (a
   * statement the database never answers, a finalizer that hangs): with the signal's exit code
   * and one line. The run's own bound (grace period, then the last writes) comes first.
   */
  readonly limit: (within: Duration.Duration) => Effect.Effect<void>
}>() {}
