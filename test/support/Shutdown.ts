/**
 * Test doubles of the Shutdown port: one whose signal never comes, and one a test sends a signal
 * through. Kept out of src/ so the built job never contains them.
 */
import { Deferred, Effect, Layer } from "effect"
import { Shutdown, type StopSignal } from "../../src/services/Shutdown.js"

/** No signal ever arrives. */
export const neverShutdown = Layer.succeed(Shutdown, { requested: Effect.never, limit: () => Effect.void })

/** A shutdown the test triggers with `signal`. */
export const manualShutdown = Effect.map(Deferred.make<StopSignal>(), (requested) => ({
  layer: Layer.succeed(Shutdown, { requested: Deferred.await(requested), limit: () => Effect.void }),
  signal: (signal: StopSignal) => Deferred.succeed(requested, signal)
}))
