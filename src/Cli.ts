import { Command, HelpDoc, Options, Usage, ValidationError } from "@effect/cli"
import type { CliApp } from "@effect/cli"
import { Cause, Config, Console, ConfigError, Data, DateTime, Effect, Either, Exit, Layer } from "effect"
import packageJson from "../package.json" with { type: "json" }
import { parseReference, parseTimeZone, referenceDateOf } from "./domain/ReferenceDate.js"
import type { CalendarDate } from "./domain/Todo.js"
import { LoggerLive } from "./layers/LoggerLive.js"
import { sendDelayNotifications } from "./SendDelayNotifications.js"
import type { NotificationClient } from "./services/NotificationClient.js"
import type { DatabaseError, TodoRepository } from "./services/TodoRepository.js"

/** The process exit codes; documented in --help and the README. */
export const ExitCode = {
  /** Every delayed todo was notified. */
  Success: 0,
  /** The run was aborted: database failure or invalid configuration. */
  Aborted: 1,
  /** Invalid command-line usage. */
  Usage: 2,
  /** The run finished, but some notifications failed (or rows could not be read). */
  SomeFailed: 3
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** What the job runs on; MainLive in production, test layers in tests. */
export type AppLayer = Layer.Layer<TodoRepository | NotificationClient, ConfigError.ConfigError | DatabaseError>

/** A run that ended with a non-zero exit code (already logged). */
class JobExit extends Data.TaggedError("JobExit")<{ readonly code: ExitCode }> {}

const exitCodesHelp = "Exit codes: 0 every delayed todo notified; 1 run aborted (database failure or invalid " +
  "configuration); 2 invalid usage; 3 run finished but some notifications failed or rows could not be read."

const usageError = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

type ReferenceSpec =
  | { readonly _tag: "Now"; readonly zone: DateTime.TimeZone }
  | { readonly _tag: "At"; readonly date: CalendarDate }

const reference: Options.Options<ReferenceSpec> = Options.all({
  now: Options.boolean("now").pipe(
    Options.withDescription("Take the current time as the reference (the default when --at is not given).")
  ),
  at: Options.text("at").pipe(
    Options.withDescription(
      "Pin the reference: a date (2022-06-03) or a date-time (2022-06-03T23:30:00Z, or without an offset for a " +
        "wall-clock time in --time-zone). For replays and tests."
    ),
    Options.optional
  ),
  timeZone: Options.text("time-zone").pipe(
    Options.withDescription(
      "Time zone whose calendar date is the reference date: an IANA name or an offset. Env: TIME_ZONE. Default: UTC."
    ),
    Options.withFallbackConfig(Config.string("TIME_ZONE").pipe(Config.withDefault("UTC")))
  )
}).pipe(
  Options.mapEffect(({ at, now, timeZone }) =>
    Effect.gen(function*() {
      const zone = yield* Either.mapLeft(parseTimeZone(timeZone), (e) => usageError(`--time-zone: ${e.message}`))
      if (at._tag === "None") return { _tag: "Now", zone } as const
      if (now) return yield* Effect.fail(usageError("Give either --now or --at, not both."))
      const date = yield* Either.mapLeft(parseReference(at.value, zone), (e) => usageError(`--at: ${e.message}`))
      return { _tag: "At", date } as const
    })
  )
)

const concurrency = Options.integer("concurrency").pipe(
  Options.withDescription("How many notifications are in flight at once."),
  Options.withDefault(16),
  Options.mapEffect((n) => n >= 1 && n <= 1024 ? Effect.succeed(n) : Effect.fail(usageError("--concurrency must be between 1 and 1024.")))
)

const resolveReference = (spec: ReferenceSpec) =>
  spec._tag === "At" ? Effect.succeed(spec.date) : Effect.map(DateTime.now, (now) => referenceDateOf(now, spec.zone))

/** One line naming each variable that is missing or malformed; never a value. */
export const describeConfigError = (error: ConfigError.ConfigError): string => {
  const lines = (e: ConfigError.ConfigError): Array<string> => {
    const name = e._op === "And" || e._op === "Or" ? "" : e.path.join(".")
    switch (e._op) {
      case "And":
      case "Or":
        return [...lines(e.left), ...lines(e.right)]
      case "MissingData":
        return [`${name} is not set`]
      default:
        return [`${name}: ${e.message}`]
    }
  }
  return [...new Set(lines(error))].join("; ")
}

/** Builds the job's services; a failure here is logged and aborts the run before anything is read. */
const buildApp = (appLayer: AppLayer) =>
  Layer.build(appLayer).pipe(
    Effect.catchAll((error) =>
      Effect.logError(
        ConfigError.isConfigError(error)
          ? "Invalid configuration. Aborting job..."
          : "Could not connect to the database. Aborting job..."
      ).pipe(
        Effect.annotateLogs({ error: ConfigError.isConfigError(error) ? describeConfigError(error) : error.message }),
        Effect.zipRight(new JobExit({ code: ExitCode.Aborted }))
      )
    )
  )

const sendCommand = (appLayer: AppLayer) =>
  Command.make("send-delay-notifications", { reference, concurrency }, (options) =>
    Effect.gen(function*() {
      const startDate = yield* resolveReference(options.reference)
      const app = yield* buildApp(appLayer)
      const summary = yield* sendDelayNotifications(startDate, { concurrency: options.concurrency }).pipe(
        Effect.provide(app),
        Effect.catchTag("DatabaseError", () => new JobExit({ code: ExitCode.Aborted }))
      )
      if (summary.failed > 0 || summary.skipped > 0) return yield* new JobExit({ code: ExitCode.SomeFailed })
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        HelpDoc.blocks([
          HelpDoc.p("Notify each workspace of its todos that are due on or before the reference date."),
          HelpDoc.p(exitCodesHelp)
        ])
      )
    )

const subcommands = (appLayer: AppLayer) => [sendCommand(appLayer)] as const

const rootCommand = (appLayer: AppLayer) =>
  Command.make("delay-notifications").pipe(
    Command.withDescription(HelpDoc.blocks([
      HelpDoc.p("Batch job that notifies workspaces of their delayed todos."),
      HelpDoc.p(
        "Environment: DATABASE_URL (postgres://...), SERVICES_URL (base URL of the auth and notify services), " +
          "CLIENT_ID, CLIENT_SECRET, LOG_LEVEL (default info), TIME_ZONE (default UTC)."
      ),
      HelpDoc.p(exitCodesHelp)
    ])),
    Command.withSubcommands(subcommands(appLayer))
  )

const usageLines = (appLayer: AppLayer): string =>
  subcommands(appLayer)
    .map((command) => `  delay-notifications ${HelpDoc.toAnsiText(Usage.getHelp(Command.getUsage(command))).trim().replace(/^\$ /, "")}`)
    .join("\n")

/**
 * Runs the command line and returns the process exit code. Usage errors are printed by
 * @effect/cli as one line; they become exit code 2 here, never a stack trace.
 */
export const runCli = (
  argv: ReadonlyArray<string>,
  appLayer: AppLayer
): Effect.Effect<ExitCode, never, CliApp.CliApp.Environment> => {
  // @effect/cli has printed the one-line reason; add the usage and where to read more.
  const printUsage = Console.error(`Usage:\n${usageLines(appLayer)}\nRun with --help for details.`)
  return Command.run(rootCommand(appLayer), { name: "delay-notifications", version: packageJson.version })(argv).pipe(
    Effect.provide(LoggerLive),
    Effect.as(ExitCode.Success),
    Effect.catchAll((error): Effect.Effect<ExitCode> =>
      error instanceof JobExit
        ? Effect.succeed(error.code)
        : ValidationError.isValidationError(error)
        ? Effect.as(printUsage, ExitCode.Usage)
        : ConfigError.isConfigError(error)
        ? Effect.logError("Invalid configuration. Aborting job...").pipe(
          Effect.annotateLogs({ error: describeConfigError(error) }),
          Effect.as(ExitCode.Aborted)
        )
        : Effect.logError("Unexpected failure. Aborting job...").pipe(
          Effect.annotateLogs({ error: String(error) }),
          Effect.as(ExitCode.Aborted)
        )
    )
  )
}

/**
 * The process exits with the code the run returned. An interrupted run (SIGINT/SIGTERM) is not a
 * success, whatever @effect/platform's default teardown says.
 */
export const exitWithCode = <E, A>(exit: Exit.Exit<A, E>, onExit: (code: number) => void): void =>
  onExit(
    Exit.isSuccess(exit) && typeof exit.value === "number"
      ? exit.value
      : Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
      ? 130
      : ExitCode.Aborted
  )
