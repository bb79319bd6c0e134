import { NodeContext } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Logger } from "effect"
import type { AppLayers } from "../../src/layers/AppLayers.js"
import { runCli } from "../../src/Cli.js"
import type { DelayedTodo } from "../../src/domain/Todo.js"
import { neverShutdown } from "./Shutdown.js"
import { makeWaiters } from "../../dev/Waiters.js"
import { inMemoryLedger } from "./InMemoryLedger.js"
import { SentNotifications, testClientLayer } from "./TestClient.js"

export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/**
 * A logger that keeps every line for assertions, in place of the console one; `until` waits for
 * a condition on the lines (checked as each comes, no polling).
 */
export const captureLogs = Effect.sync(() => {
  const lines: Array<LogLine> = []
  const waiters = makeWaiters()
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text, annotations: Object.fromEntries(annotations) })
    waiters.changed()
  })
  const until = (condition: (lines: ReadonlyArray<LogLine>) => boolean) => waiters.until(() => condition(lines))
  return { layer: Logger.replace(Logger.defaultLogger, logger), lines, until }
})

/** Runs the command line in-process on the given layers; returns the exit code. */
export const cli = (args: ReadonlyArray<string>, layers: AppLayers) =>
  runCli(["node", "delay-notifications", ...args], layers).pipe(Effect.provide(Layer.merge(NodeContext.layer, neverShutdown)))

/** Layers for send-delay-notifications only: the operator commands die if a test calls them. */
export const sendOnly = (send: AppLayers["send"]): AppLayers => ({
  send,
  ledger: Layer.die("this test provides no LedgerAdmin")
})

/** An app of test layers over `todos`, and what its client was sent. */
export const testApp = (
  todos: ReadonlyArray<DelayedTodo>,
  clientOptions: Parameters<typeof testClientLayer>[0] = {}
) =>
  Effect.gen(function*() {
    const client = yield* Layer.build(testClientLayer(clientOptions))
    const appLayer = sendOnly(Layer.merge(inMemoryLedger(todos), Layer.succeedContext(client)))
    return { appLayer, sent: Context.get(client, SentNotifications).all }
  })

/** Runs `effect` with Console.log captured into `lines` (the output of status and similar). */
export const captureConsole = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Console.consoleWith((current) => {
    const lines: Array<string> = []
    const capturing: Console.Console = {
      ...current,
      log: (...args) => Effect.sync(() => void lines.push(args.map(String).join(" ")))
    }
    return Effect.map(Console.withConsole(effect, capturing), (result) => ({ result, output: lines.join("\n") }))
  })

const realPause = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))

/**
 * Polls `condition` until it holds; dies after `timeoutMs`. Only for state no callback reports:
 * other processes' output, the database. In-process fakes and logs have `until` instead (no
 * polling, no real timer under TestClock).
 */
export const waitUntil = <E = never, R = never>(
  condition: Effect.Effect<boolean, E, R> | (() => boolean),
  timeoutMs = 60_000
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const check: Effect.Effect<boolean, E, R> = Effect.isEffect(condition) ? condition : Effect.sync(condition)
    const start = performance.now()
    while (!(yield* check)) {
      if (performance.now() - start > timeoutMs) return yield* Effect.dieMessage("condition not met in time")
      yield* realPause
    }
  })
