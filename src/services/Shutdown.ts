/**
 * Stop requests from outside (SIGTERM, SIGINT) as a service: the run stops claiming and lets
 * in-flight sends finish; its live layer listens to the process's signals, and ends the process
 * once a stop has taken longer than the run allows.
 */
import { Context, Deferred, Duration, Effect, Exit, Layer } from "effect"
import { signalExitCode } from "../ExitCode.js"

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
}>() {
  /** Listens to SIGTERM and SIGINT for the life of the scope; a second signal ends the process at once. */
  static readonly layer = Layer.scoped(
    Shutdown,
    Effect.gen(function*() {
      const requested = yield* Deferred.make<StopSignal>()
      let received: { readonly signal: StopSignal; readonly at: number } | undefined
      let limitMs: number | undefined
      let backstop: ReturnType<typeof setTimeout> | undefined
      const arm = () => {
        if (received === undefined || limitMs === undefined || backstop !== undefined) return
        const { signal } = received
        backstop = setTimeout(() => {
          process.stderr.write(
            `The process did not end within ${Duration.format(Duration.millis(limitMs!))} of ${signal}: exiting now. ` +
              "Outcomes not recorded stay claimed until their lease ends, and are sent again with the same Idempotency-Key.\n"
          )
          process.exit(signalExitCode[signal])
        }, Math.max(0, received.at + limitMs - performance.now()))
      }
      const listeners = (["SIGTERM", "SIGINT"] as const).map((signal) => {
        const listener = () => {
          if (received !== undefined) process.exit(signalExitCode[signal])
          received = { signal, at: performance.now() }
          arm()
          Deferred.unsafeDone(requested, Exit.succeed(signal))
        }
        process.on(signal, listener)
        return [signal, listener] as const
      })
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const [signal, listener] of listeners) process.off(signal, listener)
        })
      )
      return Shutdown.of({
        requested: Deferred.await(requested),
        limit: (within) =>
          Effect.sync(() => {
            limitMs = Duration.toMillis(within)
            arm()
          })
      })
    })
  )

  /** No signal ever arrives (tests). */
  static readonly never = Layer.succeed(Shutdown, { requested: Effect.never, limit: () => Effect.void })

  /** A shutdown a test triggers with the returned effect. */
  static readonly manual = Effect.map(Deferred.make<StopSignal>(), (requested) => ({
    layer: Layer.succeed(Shutdown, { requested: Deferred.await(requested), limit: () => Effect.void }),
    signal: (signal: StopSignal) => Deferred.succeed(requested, signal)
  }))
}
