/**
 * The HTTP dispatcher of the process: one undici Agent with keep-alive, at most
 * ConnectionsPerOrigin connections to an origin, destroyed when the layer closes. Deadlines and
 * body limits are per exchange (lib/HttpExchange).
 */
import { Effect, Layer } from "effect"
// The Agent's own module, not the package's index (see undici-agent.d.ts).
import Agent from "undici/lib/dispatcher/agent.js"
import { ConnectionsPerOrigin, HttpDispatcher } from "../lib/HttpExchange.js"

export const HttpLive = Layer.scoped(
  HttpDispatcher,
  Effect.acquireRelease(
    Effect.map(ConnectionsPerOrigin, (connections) => new Agent(connections === undefined ? {} : { connections })),
    (agent) => Effect.promise(() => agent.destroy())
  )
)
