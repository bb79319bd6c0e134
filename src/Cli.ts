import { Command, HelpDoc, Options, Usage, ValidationError } from "@effect/cli"
import type { CliApp } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, ConfigError, Console, Cron, Data, DateTime, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import packageJson from "../package.json" with { type: "json" }
import { defaultRetryPolicy } from "./domain/RetryPolicy.js"
import type { RunSummary } from "./domain/RunSummary.js"
import {
  count,
  duration,
  integer,
  orFromEnv,
  reference,
  type ReferenceSpec,
  resolveReference,
  resolveTuning,
  timeZone,
  type TuningOptions,
  tuningOptions,
  usageError
} from "./cli/Options.js"
import { ExitCode, signalExitCode } from "./ExitCode.js"
import { describeCause } from "./lib/Errors.js"
import { LoggerLive } from "./layers/LoggerLive.js"
import { reportOf, type RunResult, writeReport } from "./RunReport.js"
import { runOnSchedule } from "./Schedule.js"
import { previewDelayNotifications, sendDelayNotifications } from "./SendDelayNotifications.js"
import { LedgerAdmin, type LedgerStatus } from "./services/LedgerAdmin.js"
import type { NotificationClient } from "./services/NotificationClient.js"
import { Shutdown } from "./services/Shutdown.js"
import type { DatabaseError, SchemaNotCurrent, TodoRepository } from "./services/TodoRepository.js"

export { ExitCode } from "./ExitCode.js"

type StartupError = ConfigError.ConfigError | DatabaseError | SchemaNotCurrent

/** What the commands run on: MainLive in production, test layers in tests. */
export interface AppLayers {
  /** For send-delay-notifications: the ledger and the notify service. */
  readonly send: Layer.Layer<TodoRepository | NotificationClient, StartupError>
  /** For migrate, status, requeue and prune: the database alone. */
  readonly ledger: Layer.Layer<LedgerAdmin, StartupError>
}

/** A run that ended with a non-zero exit code (already logged). */
class JobExit extends Data.TaggedError("JobExit")<{ readonly code: ExitCode; readonly reason?: string }> {}

const exitCodesHelp = "Exit codes: 0 every delayed todo notified (or nothing pending); 1 run aborted (database " +
  "failure, schema not migrated, invalid configuration); 2 invalid usage; 3 run finished but some notifications " +
  "failed (tried again by a later run) or became dead letters, or rows could not be read; 4 the notify service " +
  "looked down, the run stopped and left the rest pending; 5 the auth service refused the job's client credentials " +
  "(check CLIENT_ID and CLIENT_SECRET), the run stopped and left the rest pending; 130/143 stopped by SIGINT/SIGTERM, the rest left pending."

const runOnlyOptions = {
  reference,
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription(
      "List the delay notifications a run would send now (workspace, todo, due date) and stop: claims, sends and " +
        "writes nothing. Needs the same configuration as a run."
    )
  ),
  report: Options.text("report").pipe(
    Options.withDescription(
      "Write the run's summary as JSON to this file when the run ends (also when it fails or is stopped), for " +
        "pipelines that act on it. The file is replaced whole."
    ),
    Options.optional,
    Options.mapEffect((file): Effect.Effect<Option.Option<string>, ValidationError.ValidationError, FileSystem.FileSystem> =>
      Option.isNone(file) ? Effect.succeed(file) : Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const folder = path.dirname(path.resolve(file.value))
        const usable = yield* fs.stat(folder).pipe(Effect.map((info) => info.type === "Directory"), Effect.orElseSucceed(() => false))
        return usable ? file : yield* Effect.fail(usageError(`--report: the folder ${folder} does not exist.`))
      })
    )
  )
}

const sendOptions = { ...runOnlyOptions, ...tuningOptions }

/** One line naming each variable that is missing or malformed; never a value. */
export const describeConfigError = (error: ConfigError.ConfigError): string => {
  const lines = (e: ConfigError.ConfigError): Array<string> => {
    switch (e._op) {
      case "And":
      case "Or":
        return [...lines(e.left), ...lines(e.right)]
      case "MissingData":
        return [`${e.path.join(".")} is not set`]
      default:
        return [`${e.path.join(".")}: ${e.message}`]
    }
  }
  return [...new Set(lines(error))].join("; ")
}

/** Builds a command's services; a failure here is logged and aborts the run before anything is read. */
const build = <A>(layer: Layer.Layer<A, StartupError>) =>
  Layer.build(layer).pipe(
    Effect.catchAll((error) => {
      const [message, detail] = ConfigError.isConfigError(error)
        ? ["Invalid configuration. Aborting job...", describeConfigError(error)]
        : error._tag === "SchemaNotCurrent"
        ? ["The job's database schema is not current. Aborting job...", error.message]
        : ["Could not connect to the database. Aborting job...", error.message]
      return Effect.logError(message).pipe(
        Effect.annotateLogs({ error: detail }),
        Effect.zipRight(new JobExit({ code: ExitCode.Aborted, reason: `${message} ${detail}` }))
      )
    })
  )

/** Runs an operator command on LedgerAdmin; a database failure is logged with `what` and exits 1. */
const withAdmin = <A>(
  layers: AppLayers,
  what: string,
  f: (admin: LedgerAdmin["Type"]) => Effect.Effect<A, DatabaseError | JobExit>
) =>
  Effect.flatMap(build(layers.ledger), (ctx) => Effect.flatMap(LedgerAdmin, f).pipe(Effect.provide(ctx))).pipe(
    Effect.catchTag("DatabaseError", (error) =>
      Effect.logError(`${what} Aborting...`).pipe(
        Effect.annotateLogs({ error: error.message }),
        Effect.zipRight(new JobExit({ code: ExitCode.Aborted }))
      ))
  )

const exitCodeOf = (summary: RunSummary): ExitCode =>
  summary.stopped === "outage"
    ? ExitCode.Outage
    : summary.stopped === "credentials-rejected"
    ? ExitCode.ClientRejected
    : summary.stopped === "SIGTERM"
    ? ExitCode.Terminated
    : summary.stopped === "SIGINT"
    ? ExitCode.Interrupted
    : summary.failed > 0 || summary.deadLetters > 0 || summary.skipped > 0
    ? ExitCode.SomeFailed
    : ExitCode.Success

type RunOptions = TuningOptions & {
  readonly reference: ReferenceSpec
  readonly dryRun: boolean
}

/** One run of send-delay-notifications (or its dry run); never fails: how it ended is in the result. */
const runOnce = (layers: AppLayers, { dryRun, reference: referenceSpec, ...tuningSpec }: RunOptions, runId: string) =>
  Effect.gen(function*() {
    const reference = yield* resolveReference(referenceSpec)
    const options = yield* resolveTuning(tuningSpec)
    const shutdown = yield* Shutdown
    // A signal while connecting ends the run at once, with the signal's code.
    const started = yield* Effect.raceFirst(
      Effect.map(build(layers.send), Either.right),
      Effect.map(shutdown.requested, Either.left)
    )
    if (Either.isLeft(started)) {
      yield* Effect.logWarning("Stopping: the run had not begun; nothing was claimed.").pipe(
        Effect.annotateLogs({ signal: started.left })
      )
      return { runId, code: signalExitCode[started.left], reference } satisfies RunResult
    }
    const app = started.right
    if (dryRun) {
      const wouldSend = yield* previewDelayNotifications(reference).pipe(Effect.provide(app))
      return { runId, code: ExitCode.Success, reference, wouldSend } satisfies RunResult
    }
    const summary = yield* sendDelayNotifications(reference, {
      runId,
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      lease: options.lease,
      retry: { ...defaultRetryPolicy, maxAttempts: options.maxAttempts, baseDelay: options.retryDelay },
      rate: options.rate,
      fair: options.fair,
      stopSignal: shutdown.requested,
      grace: options.grace,
      outageAfter: options.outageAfter,
      progressEvery: options.progress
    }).pipe(Effect.provide(app))
    return { runId, code: exitCodeOf(summary), reference, summary } satisfies RunResult
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      JobExit: (exit): Effect.Effect<RunResult> =>
        Effect.succeed({ runId, code: exit.code, ...(exit.reason === undefined ? {} : { error: exit.reason }) }),
      DatabaseError: (error): Effect.Effect<RunResult> =>
        Effect.succeed({ runId, code: ExitCode.Aborted, error: error.message }),
      ConfigError: (error): Effect.Effect<RunResult> =>
        Effect.logError("Invalid configuration. Aborting job...").pipe(
          Effect.annotateLogs({ error: describeConfigError(error) }),
          Effect.as({ runId, code: ExitCode.Aborted, error: describeConfigError(error) })
        ),
      LeaseTooShort: (error): Effect.Effect<RunResult> =>
        Effect.logError("Invalid settings: the lease is too short. Aborting job...").pipe(
          Effect.annotateLogs({ error: error.message }),
          Effect.as({ runId, code: ExitCode.Usage, error: error.message })
        )
    }),
    // A defect (a bug, an exception in a library): one line with the cause, never a silent exit.
    Effect.catchAllDefect((defect): Effect.Effect<RunResult> =>
      Effect.logError("Unexpected failure. Aborting job...").pipe(
        Effect.annotateLogs({ error: describeCause(defect) }),
        Effect.as({ runId, code: ExitCode.Aborted, crashed: true, error: describeCause(defect) })
      )
    ),
    Effect.annotateLogs({ runId })
  )

const sendCommand = (layers: AppLayers) =>
  Command.make("send-delay-notifications", sendOptions, ({ report, ...options }) =>
    Effect.gen(function*() {
      const runId = randomUUID()
      const startedAt = yield* DateTime.now
      const result = yield* runOnce(layers, options, runId)
      let code = result.code
      if (Option.isSome(report)) {
        const written = yield* writeReport(report.value, reportOf(result, startedAt, yield* DateTime.now)).pipe(
          Effect.as(true),
          Effect.catchAll((error) =>
            Effect.logError("Could not write the run report.").pipe(
              Effect.annotateLogs({ runId, report: report.value, error: error.message }),
              Effect.as(false)
            )
          )
        )
        if (!written && code === ExitCode.Success) code = ExitCode.Aborted
      }
      if (code !== ExitCode.Success) return yield* new JobExit({ code })
    })).pipe(
      Command.withDescription(
        HelpDoc.blocks([
          HelpDoc.p(
            "Notify each workspace of its todos that are due on or before the reference date, each exactly once: " +
              "todos are recorded in the job's ledger, claimed (FOR UPDATE SKIP LOCKED, with a lease), sent with an " +
              "Idempotency-Key, and their outcome recorded. Safe to run again, and in several processes at once."
          ),
          HelpDoc.p(exitCodesHelp)
        ])
      )
    )

const scheduleCommand = (layers: AppLayers) =>
  Command.make("schedule", {
    expression: orFromEnv(
      Options.text("cron").pipe(
        Options.withDescription(
          "When to run, as a cron expression (minute hour day-of-month month day-of-week; an optional leading " +
            "seconds field), in --time-zone. Env: SCHEDULE."
        ),
        Options.mapEffect((expression) =>
          Either.match(Cron.parse(expression), {
            onLeft: (error) => Effect.fail(usageError(`--cron: ${error.message}: "${expression}"`)),
            onRight: () => Effect.succeed(expression)
          })
        )
      ),
      Config.string("SCHEDULE").pipe(
        Config.mapOrFail((expression) =>
          Either.match(Cron.parse(expression), {
            onLeft: (error) => Either.left(ConfigError.InvalidData(["SCHEDULE"], `${error.message}: "${expression}"`)),
            onRight: () => Either.right(expression)
          })
        )
      )
    ),
    zone: timeZone,
    maxRunTime: duration(
      "max-run-time",
      "MAX_RUN_TIME",
      Duration.hours(1),
      { min: Duration.minutes(1), max: Duration.days(1) },
      "A run still going after this is stopped (its known outcomes written, its claims handed back or left to " +
        "their lease) so that one hung run never stops the schedule."
    ),
    ...tuningOptions
  }, ({ expression: expressionSpec, maxRunTime: maxRunTimeSpec, zone: zoneSpec, ...tuning }) =>
    Effect.gen(function*() {
      const zone = yield* zoneSpec
      const maxRunTime = yield* maxRunTimeSpec
      const expression = yield* expressionSpec
      // Its form was checked when it was read; only the zone is new here.
      const cron = yield* Effect.orDie(Cron.parse(expression, zone))
      const shutdown = yield* Shutdown
      const code = yield* runOnSchedule(
        { cron, expression, zone, maxRunTime, overtimeCode: ExitCode.Aborted },
        shutdown.requested,
        Effect.suspend(() =>
          Effect.map(
            runOnce(layers, { ...tuning, reference: { _tag: "Now", zone: Effect.succeed(zone) }, dryRun: false }, randomUUID()),
            (result) => ({
              runId: result.runId,
              code: result.code,
              stoppedBySignal: result.code === ExitCode.Terminated || result.code === ExitCode.Interrupted
            })
          )
        )
      )
      if (code !== ExitCode.Success) return yield* new JobExit({ code })
    })).pipe(
      Command.withDescription(
        HelpDoc.blocks([
          HelpDoc.p(
            "Run send-delay-notifications on a cron schedule, for platforms with no scheduler of their own: one run " +
              "at a time (a run that outlasts a tick skips it), each logged with its run id and exit code; a run " +
              "that fails does not stop the schedule. SIGTERM/SIGINT between runs stops it with exit 0; during a " +
              "run, that run stops as send-delay-notifications does and the scheduler exits 143/130."
          )
        ])
      )
    )

const migrateCommand = (layers: AppLayers) =>
  Command.make("migrate", {}, () =>
    Effect.gen(function*() {
      const applied = yield* withAdmin(layers, "Could not migrate the job's schema.", (admin) => admin.migrate)
      yield* Effect.logInfo(applied.length === 0 ? "The job's schema is current." : "Migrated the job's schema.").pipe(
        Effect.annotateLogs({ applied: applied.join(", ") || "none" })
      )
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        "Create or update the job's own tables (schema delay_notifications) with @effect/sql's Migrator. " +
          "Idempotent; safe to run before every send. Exit 0, or 1 when the database fails."
      )
    )

const formatStatus = (status: LedgerStatus): string => {
  const c = status.counts
  const lines = [
    `pending ${c.pending}   retrying ${c.retrying}   claimed ${c.claimed}   sent ${c.sent}   dead ${c.dead}`,
    status.oldestPending === null
      ? "oldest pending: none"
      : `oldest pending: todo ${status.oldestPending.todoId} (workspace ${status.oldestPending.workspaceId}), due ${status.oldestPending.dueDate}`
  ]
  if (status.deadLetters.length > 0) {
    lines.push("dead letters (newest first):")
    for (const d of status.deadLetters) {
      lines.push(
        `  workspace ${d.workspaceId}  todo ${d.todoId}  due ${d.dueDate}  attempts ${d.attempts}  since ${d.since}  ` +
          `last error: ${d.lastError ?? "-"}`
      )
    }
  }
  return lines.join("\n")
}

const statusCommand = (layers: AppLayers) =>
  Command.make("status", {
    json: Options.boolean("json").pipe(Options.withDescription("Print the status as JSON.")),
    limit: count("limit", 50, 0, 10_000, "Dead letters to list.")
  }, (options) =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const status = yield* withAdmin(layers, "Could not read the job's state.", (admin) => admin.status(now, options.limit))
      yield* Console.log(options.json ? JSON.stringify(status, null, 2) : formatStatus(status))
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        "Show the job's state: counts by state (pending, retrying, claimed, sent, dead), the oldest pending todo, " +
          "and the dead letters with their attempts and last error."
      )
    )

const optionalUuid = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.withSchema(Schema.UUID),
    Options.optional,
    Options.map(Option.getOrUndefined)
  )

const requeueCommand = (layers: AppLayers) =>
  Command.make("requeue", {
    workspace: optionalUuid("workspace", "Only the dead letters of this workspace."),
    todo: optionalUuid("todo", "Only the dead letter of this todo.")
  }, (options) =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const requeued = yield* withAdmin(
        layers,
        "Could not requeue dead letters.",
        (admin) => admin.requeue({ workspaceId: options.workspace, todoId: options.todo }, now)
      )
      yield* Effect.logInfo("Requeued dead letters.").pipe(Effect.annotateLogs({ requeued }))
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        "Put dead letters back: pending again with fresh attempts, sent by the next run."
      )
    )

const pruneCommand = (layers: AppLayers) =>
  Command.make("prune", {
    retention: duration(
      "retention",
      "RETENTION",
      Duration.days(30),
      { min: Duration.hours(1), max: Duration.days(3650) },
      "Keep rows younger than this. Older rows whose todo no longer exists with that due date are deleted."
    ),
    maxShare: integer(
      "max-share",
      "PRUNE_MAX_SHARE",
      50,
      0,
      100,
      "Refuse (exit 1, nothing deleted) when more than this percent of the rows of sent notifications would go: " +
        "the todos table is then more likely empty or unreadable than that many todos deleted."
    ),
    force: Options.boolean("force").pipe(Options.withDescription("Prune even past --max-share."))
  }, (options) =>
    Effect.gen(function*() {
      const before = DateTime.subtractDuration(yield* DateTime.now, yield* options.retention)
      const guard = { force: options.force, maxShare: yield* options.maxShare }
      const { pruned, todosTable } = yield* withAdmin(layers, "Could not prune the job's state.", (admin) =>
        admin.prune(before, guard).pipe(
          Effect.catchTag("PruneRefused", (refused) =>
            Effect.logError("Refusing to prune. Aborting...").pipe(
              Effect.annotateLogs({ error: refused.message, todosTable: refused.todosTable }),
              Effect.zipRight(new JobExit({ code: ExitCode.Aborted }))
            ))
        ))
      yield* Effect.logInfo("Pruned the job's state.").pipe(
        Effect.annotateLogs({ pruned, before: DateTime.formatIso(before), todosTable })
      )
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        "Delete old ledger rows of todos that were deleted or whose due date moved. Rows of todos that still " +
          "exist are kept: without them a todo would be notified again."
      )
    )

const subcommands = (layers: AppLayers) =>
  [
    sendCommand(layers),
    scheduleCommand(layers),
    migrateCommand(layers),
    statusCommand(layers),
    requeueCommand(layers),
    pruneCommand(layers)
  ] as const

const rootCommand = (layers: AppLayers) =>
  Command.make("delay-notifications").pipe(
    Command.withDescription(HelpDoc.blocks([
      HelpDoc.p("Batch job that notifies workspaces of their delayed todos, each exactly once."),
      HelpDoc.p(
        "Environment: DATABASE_URL (postgres://..., sslmode honoured; or DATABASE_URL_FILE), DATABASE_CA_FILE, SERVICES_URL (base URL of the auth and notify services), " +
          "CLIENT_ID, CLIENT_SECRET (or CLIENT_SECRET_FILE), TODOS_TABLE (default todos; or schema.table), LOG_LEVEL (default info), LOG_FORMAT (auto, json or pretty), TIME_ZONE (default UTC), SCHEDULE (for schedule), OTEL_EXPORTER_OTLP_ENDPOINT (export traces and metrics); options also read " +
          "CONCURRENCY, BATCH_SIZE, RATE, LEASE, MAX_ATTEMPTS, RETRY_DELAY, GRACE_PERIOD, OUTAGE_AFTER, PROGRESS_EVERY, MAX_RUN_TIME, RETENTION, PRUNE_MAX_SHARE; " +
          "limits: NOTIFY_TIMEOUT, NOTIFY_RETRIES, NOTIFY_RETRY_BASE, NOTIFY_RETRY_BUDGET, DATABASE_STATEMENT_TIMEOUT, MIGRATE_LOCK_TIMEOUT; " +
          "NO_COLOR (plain help). Ranges and defaults: README, Configuration."
      ),
      HelpDoc.p(exitCodesHelp)
    ])),
    Command.withSubcommands(subcommands(layers))
  )

const usageLines = (layers: AppLayers): string =>
  subcommands(layers)
    .map((command) => Usage.getHelp(Command.getUsage(command as Command.Command<string, never, JobExit, unknown>)))
    .map((help) => `  delay-notifications ${HelpDoc.toAnsiText(help).trim().replace(/^\$ /, "")}`)
    .join("\n")

/**
 * Runs the command line and returns the process exit code. Usage errors are printed by
 * @effect/cli as one line; they become exit code 2 here, never a stack trace.
 */
export const runCli = (
  argv: ReadonlyArray<string>,
  layers: AppLayers
): Effect.Effect<ExitCode, never, CliApp.CliApp.Environment | Shutdown> => {
  // @effect/cli has printed the one-line reason; add the usage and where to read more.
  const printUsage = Console.error(`Usage:\n${usageLines(layers)}\nRun with --help for details.`)
  return Command.run(rootCommand(layers), { name: "delay-notifications", version: packageJson.version })(argv).pipe(
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
          Effect.annotateLogs({ error: describeCause(error) }),
          Effect.as(ExitCode.Aborted)
        )
    ),
    Effect.catchAllDefect((defect) =>
      Effect.logError("Unexpected failure. Aborting job...").pipe(
        Effect.annotateLogs({ error: describeCause(defect) }),
        Effect.as(ExitCode.Aborted)
      )
    )
  )
}
