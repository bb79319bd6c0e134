/**
 * The command line: the root command over the job's commands (cli/Send.ts, cli/Admin.ts) and
 * runCli, which runs it and maps how it ended to the process's exit code.
 */
import { Command, HelpDoc, Usage, ValidationError } from "@effect/cli"
import type { CliApp } from "@effect/cli"
import { Console, Effect } from "effect"
import packageJson from "../package.json" with { type: "json" }
import { migrateCommand, pruneCommand, requeueCommand, statusCommand } from "./cli/Admin.js"
import { exitCodesDoc, JobExit } from "./cli/Common.js"
import { scheduleCommand, sendCommand } from "./cli/Send.js"
import { type Ending, endingOf, logEnding } from "./Endings.js"
import { ExitCode } from "./ExitCode.js"
import type { CodeCacheStatus } from "./boot.js"
import type { AppLayers } from "./layers/AppLayers.js"
import { LogLevelLive } from "./layers/Logging.js"
import { environmentHelp } from "./lib/Environment.js"
import type { Shutdown } from "./services/Shutdown.js"

export { ExitCode } from "./ExitCode.js"

const subcommands = (layers: AppLayers) =>
  [
    sendCommand(layers),
    scheduleCommand(layers),
    migrateCommand(layers),
    statusCommand(layers),
    requeueCommand(layers),
    pruneCommand(layers)
  ] as const

type Subcommands = ReturnType<typeof subcommands>

const rootCommand = (commands: Subcommands) =>
  Command.make("delay-notifications").pipe(
    Command.withDescription(HelpDoc.blocks([
      HelpDoc.p("Batch job that notifies workspaces of their delayed todos, each exactly once."),
      HelpDoc.p(environmentHelp()),
      exitCodesDoc
    ])),
    Command.withSubcommands(commands)
  )

const usageLines = (commands: Subcommands): string =>
  commands
    .map((command) => Usage.getHelp(Command.getUsage(command as Command.Command<string, never, JobExit, unknown>)))
    .map((help) => `  delay-notifications ${HelpDoc.toAnsiText(help).trim().replace(/^\$ /, "")}`)
    .join("\n")

/** Logs how the command ended, and gives its exit code. */
const ended = (ending: Ending) => Effect.as(logEnding(ending), ending.code)

/**
 * Runs the command line and returns the process exit code. Usage errors are printed by
 * @effect/cli as one line; they become exit code 2 here, never a stack trace.
 */
export const runCli = (
  argv: ReadonlyArray<string>,
  layers: AppLayers,
  /** What became of V8's code cache as the loader started the job (src/boot.ts). */
  codeCache: CodeCacheStatus = "not-loaded"
): Effect.Effect<ExitCode, never, CliApp.CliApp.Environment | Shutdown> => {
  // The tree is built once, for the run and for the usage lines.
  const commands = subcommands(layers)
  // @effect/cli has printed the one-line reason; add the usage and where to read more.
  const printUsage = Console.error(`Usage:\n${usageLines(commands)}\nRun with --help for details.`)
  // Whether the start read V8's compiled code or compiled the bundle (src/boot.ts).
  const started = Effect.logDebug("Started.").pipe(Effect.annotateLogs({ codeCache }))
  return Effect.zipRight(
    started,
    Command.run(rootCommand(commands), { name: "delay-notifications", version: packageJson.version })(argv)
  ).pipe(
    Effect.provide(LogLevelLive),
    Effect.as(ExitCode.Success),
    Effect.catchAll((error): Effect.Effect<ExitCode> =>
      error instanceof JobExit
        ? Effect.succeed(error.code)
        : ValidationError.isValidationError(error)
        ? Effect.as(printUsage, ExitCode.Usage)
        : ended(endingOf(error, "starting"))
    ),
    Effect.catchAllDefect((defect) => ended(endingOf(defect, "running")))
  )
}
