/**
 * The job's entry (bundled as dist/job.cjs, whose `start` dist/main.js calls: src/boot.ts): runs
 * the command line on the production layers with Node's context, signals going to Shutdown, and
 * exits with the code the command chose (a run stopped by a signal exits 130/143, never 0); a
 * crash outside any run is one line and exit 1. V8's settings (src/lib/HeapTuning.ts) are the
 * loader's, set before this bundle is compiled.
 */
// First, for its effect on load: Effect's fiber metrics off before any other module runs an effect.
import "./lib/FiberMetrics.js"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Config, Console, Effect, Exit, Layer, Option } from "effect"
import type { CodeCacheStatus } from "./boot.js"
import { runCli } from "./Cli.js"
import { endingOf, textOf } from "./Endings.js"
import { stderrLine } from "./ExitCode.js"
import { logFormatConfig, logFormatLayer } from "./layers/Logging.js"
import { productionLayers } from "./layers/AppLayers.js"
import { Env } from "./lib/Environment.js"
import { withPlainText } from "./lib/PlainConsole.js"
import { TelemetryLive } from "./layers/TelemetryLive.js"
import { ShutdownLive } from "./services/Shutdown/Live.js"

const main = (codeCache: CodeCacheStatus) => Effect.gen(function*() {
  const format = yield* logFormatConfig
  const noColor = Option.isSome(yield* Config.option(Config.string(Env.NO_COLOR)))
  return yield* runCli(process.argv, productionLayers, codeCache).pipe(
    Effect.provide(TelemetryLive),
    Effect.provide(logFormatLayer(format, process.stdout.isTTY === true)),
    withPlainText(noColor || process.stdout.isTTY !== true)
  )
}).pipe(
  // Only the logging and telemetry settings can fail here; the commands handle their own.
  Effect.catchAll((error) => {
    const ending = endingOf(error, "starting")
    return Console.error(textOf(ending)).pipe(Effect.as(ending.code))
  })
)

// Not NodeRuntime.runMain: it interrupts the run on SIGTERM and then exits 0. Signals go to
// Shutdown instead, and the process exits with the run's own code as soon as it is done.
// Writes to a pipe are asynchronous: exit once stdout and stderr have taken the last log lines.
const exitWith = (code: number) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code)))

// An exception or a rejected promise outside any run (a library's own callback): one line and
// exit 1, never a stack trace or a silent end. Those inside a run are caught by the run itself.
const crash = (error: unknown) => {
  const ending = endingOf(error, "running")
  process.stderr.write(stderrLine(ending.line, ending.detail))
  exitWith(ending.code)
}

/** Runs the command line of this process, told by the loader whether the code came from V8's cache. */
export const start = (codeCache: CodeCacheStatus): void => {
  process.on("uncaughtException", crash)
  process.on("unhandledRejection", crash)
  // The process lives until the program ends, even while it only waits (schedule between runs has
  // no socket or timer of Node's own at times).
  const keepAlive = setInterval(() => {}, 2 ** 30)
  Effect.runFork(main(codeCache).pipe(Effect.provide(Layer.mergeAll(NodeContext.layer, ShutdownLive))))
    .addObserver((exit) => {
      clearInterval(keepAlive)
      exitWith(Exit.isSuccess(exit) ? exit.value : 1)
    })
}
