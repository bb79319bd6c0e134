import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { ExitCode } from "../src/Cli.js"
import { databaseDeadlinesConfig, NoAnswer } from "../src/lib/DatabaseDeadlines.js"
import { DatabaseError } from "../src/services/DatabaseErrors.js"
import { TodoRepository } from "../src/services/TodoRepository.js"
import { inMemoryLedger } from "./support/InMemoryLedger.js"
import { seedDelayedTodos } from "./support/seed.js"
import { captureLogs, cli, sendOnly } from "./support/TestApp.js"
import { testClientLayer } from "./support/TestClient.js"

describe("the job's own deadlines on the database", () => {
  it.effect("defaults: connect 10 s, a round trip 15 s, a long statement the statement timeout and 5 s; each set by its variable", () =>
    Effect.gen(function*() {
      const defaults = yield* databaseDeadlinesConfig
      expect(defaults.connect).toStrictEqual(Duration.seconds(10))
      expect(defaults.roundTrip).toStrictEqual(Duration.seconds(15))
      expect(defaults.long).toStrictEqual(Duration.seconds(65))
      const set = yield* databaseDeadlinesConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([["DATABASE_CONNECT_TIMEOUT", "3s"], ["DATABASE_TIMEOUT", "2s"], ["DATABASE_STATEMENT_TIMEOUT", "5m"]])
        ))
      )
      expect(set).toStrictEqual({
        connect: Duration.seconds(3),
        roundTrip: Duration.seconds(2),
        statement: Duration.minutes(5),
        long: Duration.seconds(305)
      })
      const refused = yield* Effect.flip(databaseDeadlinesConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_TIMEOUT", "0s"]])))
      ))
      expect(String(refused)).toContain("DATABASE_TIMEOUT")
    }))

  it.scoped("a run whose database stops answering while it works ends with exit 1 and one line saying so", () =>
    Effect.gen(function*() {
      const inMemory = yield* Layer.build(inMemoryLedger(seedDelayedTodos))
      const repository = Context.get(inMemory, TodoRepository)
      // Claims go through; then nothing answers: each round trip fails at its deadline.
      const noAnswer = (operation: string) =>
        Effect.zipRight(
          Effect.sleep("15 seconds"),
          Effect.fail(new DatabaseError({ operation, cause: new NoAnswer({ within: Duration.seconds(15), setting: "DATABASE_TIMEOUT" }) }))
        )
      const stopsAnswering = Layer.succeed(TodoRepository, {
        ...repository,
        answers: noAnswer("Checking that the database answers"),
        record: () => noAnswer("Recording outcomes")
      })
      const client = yield* Layer.build(testClientLayer())
      const logs = yield* captureLogs
      const fiber = yield* cli(
        ["send-delay-notifications", "--at", "2022-06-03"],
        sendOnly(Layer.merge(stopsAnswering, Layer.succeedContext(client)))
      ).pipe(Effect.provide(logs.layer), Effect.fork)
      while (fiber.unsafePoll() === null) yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe(ExitCode.Aborted)
      const aborted = logs.lines.filter((line) => line.message === "The database stopped answering. Aborting job...")
      expect(aborted).toHaveLength(1)
      expect(aborted[0]!.annotations.error).toMatch(/failed: the database did not answer within 15s \(DATABASE_TIMEOUT\)$/)
      // What it knew is counted as not written (those todos are resent, same key, after the lease).
      expect(logs.lines.find((line) => line.message.startsWith("Could not record some outcomes"))?.annotations)
        .toMatchObject({ unrecorded: 2 })
    }))
})
