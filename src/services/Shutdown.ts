/**
 * Stop requests from outside (SIGTERM, SIGINT) as a service: the run stops claiming and lets
 * in-flight sends finish; its live layer listens to the process's signals.
 */
import { Context, Deferred, Effect, Exit, Layer } from "effect"
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
}>() {
  /** Listens to SIGTERM and SIGINT for the life of the scope; a second signal ends the process at once. */
  static readonly layer = Layer.scoped(
    Shutdown,
    Effect.gen(function*() {
      const requested = yield* Deferred.make<StopSignal>()
      let received = false
      const listeners = (["SIGTERM", "SIGINT"] as const).map((signal) => {
        const listener = () => {
          if (received) process.exit(signalExitCode[signal])
          received = true
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
      return Shutdown.of({ requested: Deferred.await(requested) })
    })
  )

  /** No signal ever arrives (tests). */
  static readonly never = Layer.succeed(Shutdown, { requested: Effect.never })

  /** A shutdown a test triggers with the returned effect. */
  static readonly manual = Effect.map(Deferred.make<StopSignal>(), (requested) => ({
    layer: Layer.succeed(Shutdown, { requested: Deferred.await(requested) }),
    signal: (signal: StopSignal) => Deferred.succeed(requested, signal)
  }))
}
