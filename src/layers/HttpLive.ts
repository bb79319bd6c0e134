/**
 * The HTTP dispatcher of the process: one undici Agent with keep-alive, destroyed when the layer
 * closes. Deadlines and body limits are per exchange (lib/HttpExchange).
 */
import { Effect, Layer } from "effect"
import { Agent } from "undici"
import { HttpDispatcher } from "../lib/HttpExchange.js"

export const HttpLive = Layer.scoped(
  HttpDispatcher,
  Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) => Effect.promise(() => agent.destroy()))
)
