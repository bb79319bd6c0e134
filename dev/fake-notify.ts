/**
 * `npm run fake-notify -- --port 3001 [--host 0.0.0.0] [--latency 20] [--fail-every 5] [--fail-status 500]
 * [--retry-after 2] [--token-lifetime 3600]`: the fake auth and notify services on their own.
 * CLIENT_ID and CLIENT_SECRET (default todos / fake-secret) are the credentials it accepts.
 * GET /__fake/stats and /__fake/notifications show what it recorded; POST /__fake/behaviour
 * with a JSON body changes how it answers.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { parseArgs } from "node:util"
import { serveFakeNotify } from "./fakeNotify/FakeNotify.js"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3001" },
    host: { type: "string", default: "127.0.0.1" },
    latency: { type: "string", default: "0" },
    "fail-every": { type: "string", default: "0" },
    "fail-status": { type: "string", default: "500" },
    "retry-after": { type: "string", default: "1" },
    "token-lifetime": { type: "string", default: "3600" }
  }
})

Effect.gen(function*() {
  const fake = yield* serveFakeNotify({
    port: Number(values.port),
    host: values.host,
    latencyMs: Number(values.latency),
    failEvery: Number(values["fail-every"]),
    failStatus: Number(values["fail-status"]),
    retryAfterSeconds: Number(values["retry-after"]),
    tokenLifetimeSeconds: Number(values["token-lifetime"]),
    clientId: process.env.CLIENT_ID ?? "todos",
    clientSecret: process.env.CLIENT_SECRET ?? "fake-secret"
  })
  yield* Console.log(`Fake notify service listening on ${fake.url}`)
  return yield* Effect.never
}).pipe(Effect.scoped, NodeRuntime.runMain)
