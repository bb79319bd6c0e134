/**
 * The live Shutdown: the process's SIGTERM and SIGINT, and a backstop that ends the process once
 * a stop has taken longer than the run allows.
 */
import { Deferred, Duration, Effect, Exit, Layer } from "effect"
import type { StopSignal } from "../../domain/RunSummary.js"
import { signalExitCode } from "../../ExitCode.js"
import { Shutdown } from "../Shutdown.js"

/** Listens to SIGTERM and SIGINT for the life of the scope; a second signal ends the process at once. */
export const ShutdownLive = Layer.scoped(
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
