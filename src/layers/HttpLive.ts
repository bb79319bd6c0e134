import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import { Agent } from "undici"
import { requestTimeout } from "../services/NotificationClient.js"

/**
 * The HTTP client of the process: undici with keep-alive, and NOTIFY_TIMEOUT enforced by undici
 * itself (headers and body timeouts, set on every request by an interceptor). An Effect timeout around each request costs a timer fiber
 * per notification, which was measured at about a fifth of the throughput.
 */
export const HttpLive = Layer.unwrapEffect(
  Effect.map(requestTimeout, (timeout) =>
    NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
      Layer.provide(
        Layer.scoped(
          NodeHttpClient.Dispatcher,
          Effect.map(
            Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) => Effect.promise(() => agent.destroy())),
            // @effect/platform passes its own (hour-long) timeouts with each request; this puts ours back.
            (agent) =>
              agent.compose((dispatch) => (options, handler) =>
                dispatch(
                  { ...options, headersTimeout: Duration.toMillis(timeout), bodyTimeout: Duration.toMillis(timeout) },
                  handler
                )
              )
          )
        )
      )
    ))
)
