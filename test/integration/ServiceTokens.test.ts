import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { WorkspaceId } from "../../src/domain/Todo.js"
import { ServiceTokens } from "../../src/services/ServiceTokens.js"
import { clientId, clientSecret, liveTokensLayer } from "../support/notify.js"
import { serveFakeNotify } from "../../dev/fakeNotify/FakeNotify.js"

const workspace = (i: number) => WorkspaceId.make(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`)

describe("ServiceTokens over HTTP against the fake auth service", () => {
  // Over N/2 workspaces each workspace's two todos are claimed far apart: its token is wanted
  // again only after every other workspace's. The job kept 10,000 tokens and asked again for each.
  it.scoped("asks once for each of 20,000 workspaces' tokens when every one is wanted a second time after all the others", () =>
    Effect.gen(function*() {
      const fake = yield* serveFakeNotify({ clientId, clientSecret })
      const tokens = Context.get(yield* Layer.build(liveTokensLayer(fake.url)), ServiceTokens)
      const workspaces = Array.from({ length: 20_000 }, (_, i) => workspace(i))
      const pass = Effect.forEach(workspaces, (id) => Effect.map(tokens.get(id), (token) => token.header()), { concurrency: 64 })
      const first = yield* pass
      const second = yield* pass
      expect(fake.state.tokenRequests.length).toBe(20_000)
      expect(second).toEqual(first)
      expect(new Set(first).size).toBe(20_000)
    }), 120_000)

  // A failed fetch is one failed request, however many sends waited on it: each waiting send
  // counted it, and 64 sends at once gave a workspace up after its first failed request.
  it.scoped("gives a workspace up after three failed token requests, however many sends waited on each", () =>
    Effect.gen(function*() {
      const fake = yield* serveFakeNotify({ clientId, clientSecret, tokenFailStatus: 500 })
      const tokens = Context.get(yield* Layer.build(liveTokensLayer(fake.url)), ServiceTokens)
      const sends = Array.from({ length: 64 }, () => tokens.get(workspace(1)).pipe(Effect.flip))
      for (let round = 0; round < 5; round++) {
        const errors = yield* Effect.all(sends, { concurrency: "unbounded" })
        expect(errors.every((error) => error._tag === "TokenError" && error.status === 500)).toBe(true)
      }
      expect(fake.state.tokenRequests.length).toBe(3)
    }))
})
