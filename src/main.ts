import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { exitWithCode, runCli } from "./Cli.js"
import { MainLive } from "./layers/MainLive.js"

runCli(process.argv, MainLive).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, teardown: exitWithCode })
)
