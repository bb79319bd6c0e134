import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { ExitCode } from "../src/Cli.js"
import { DatabaseError } from "../src/services/DatabaseErrors.js"
import { TodoRepository } from "../src/services/TodoRepository.js"
import { seedDelayedTodos } from "./support/seed.js"
import { captureLogs, cli, sendOnly } from "./support/TestApp.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"
import { testClientLayer } from "./support/TestClient.js"

describe("a run whose outcome writes fail", () => {
  it.scoped("aborts with exit 1 and names how many outcomes it could not record, to be resent with the same key", () =>
    Effect.gen(function*() {
      const inMemory = yield* Layer.build(inMemoryLedger(seedDelayedTodos))
      const repository = Context.get(inMemory, TodoRepository)
      // The database takes claims but no longer the writes of outcomes.
      const failingWrites = Layer.succeed(TodoRepository, {
        ...repository,
        record: () => Effect.fail(new DatabaseError({ operation: "Recording outcomes", cause: new Error("connection lost") }))
      })
      const client = yield* Layer.build(testClientLayer())
      const logs = yield* captureLogs
      const code = yield* cli(
        ["send-delay-notifications", "--at", "2022-06-03"],
        sendOnly(Layer.merge(failingWrites, Layer.succeedContext(client)))
      ).pipe(Effect.provide(logs.layer))
      expect(code).toBe(ExitCode.Aborted)
      const unrecorded = logs.lines.find((line) => line.message.startsWith("Could not record some outcomes"))
      expect(unrecorded?.message).toContain("sent again with the same Idempotency-Key")
      expect(unrecorded?.annotations).toMatchObject({ unrecorded: 2, error: "Recording outcomes failed: connection lost" })
    }))
})
