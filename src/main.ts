import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Layer, Logger } from "effect"
import { runCli } from "./Cli.js"
import { MainLive } from "./layers/MainLive.js"
import { Shutdown } from "./services/Shutdown.js"

// Not NodeRuntime.runMain: it interrupts the run on SIGTERM and then exits 0. Signals go to
// Shutdown instead, and the process exits with the run's own code as soon as it is done.
Effect.runFork(
  runCli(process.argv, MainLive).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, Shutdown.layer, Logger.pretty))
  )
).addObserver((exit) => process.exit(Exit.isSuccess(exit) ? exit.value : 1))
