/**
 * The operator's commands on the job's ledger: migrate, status (and its text form), requeue,
 * prune. Each builds only the ledger's services; a database failure is logged and exits 1.
 */
import { Command, Options } from "@effect/cli"
import { Console, DateTime, Duration, Effect, Option, Schema } from "effect"
import { type Doing, type Ending, endingOf, logEnding } from "../Endings.js"
import type { AppLayers } from "../layers/AppLayers.js"
import { Env } from "../lib/Environment.js"
import type { DatabaseError, PostgresTooOld } from "../services/DatabaseErrors.js"
import { LedgerAdmin, type LedgerStatus, type PruneRefused } from "../services/LedgerAdmin.js"
import { buildServices, JobExit } from "./Common.js"
import { recordRunEnd } from "./RunMetrics.js"
import { count, duration, integer } from "./Options.js"

/** Runs an operator command on LedgerAdmin; a failure is logged as what it was `doing` and exits 1. */
const withAdmin = <A>(
  layers: AppLayers,
  doing: Doing,
  f: (admin: LedgerAdmin["Type"]) => Effect.Effect<A, DatabaseError | PostgresTooOld | PruneRefused>
) =>
  Effect.flatMap(buildServices(layers.ledger), (ctx) => Effect.flatMap(LedgerAdmin, f).pipe(Effect.provide(ctx))).pipe(
    Effect.catchTags({
      DatabaseError: (error) => ended(endingOf(error, doing)),
      PostgresTooOld: (error) => ended(endingOf(error, doing)),
      // The table it would have pruned, named for the operator to check.
      PruneRefused: (refused) => ended(endingOf(refused, doing), { todosTable: refused.todosTable })
    })
  )

const ended = (ending: Ending, annotations?: Record<string, unknown>) =>
  Effect.zipRight(logEnding(ending, annotations), new JobExit({ code: ending.code }))

export const migrateCommand = (layers: AppLayers) =>
  Command.make("migrate", {}, () =>
    Effect.gen(function*() {
      const applied = yield* withAdmin(layers, "migrating", (admin) => admin.migrate)
      yield* Effect.logInfo(applied.length === 0 ? "The job's schema is current." : "Migrated the job's schema.").pipe(
        Effect.annotateLogs({ applied: applied.join(", ") || "none" })
      )
    }).pipe(
      Effect.scoped,
      // The CronJob's init container: a migrate that fails stands for a run that failed.
      Effect.tapError((exit) => recordRunEnd(exit.code))
    )).pipe(
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

export const statusCommand = (layers: AppLayers) =>
  Command.make("status", {
    json: Options.boolean("json").pipe(Options.withDescription("Print the status as JSON.")),
    limit: count("limit", 50, 0, 10_000, "Dead letters to list.")
  }, (options) =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const status = yield* withAdmin(layers, "reading the state", (admin) => admin.status(now, options.limit))
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

export const requeueCommand = (layers: AppLayers) =>
  Command.make("requeue", {
    workspace: optionalUuid("workspace", "Only the dead letters of this workspace."),
    todo: optionalUuid("todo", "Only the dead letter of this todo.")
  }, (options) =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const requeued = yield* withAdmin(
        layers,
        "requeueing",
        (admin) => admin.requeue({ workspaceId: options.workspace, todoId: options.todo }, now)
      )
      yield* Effect.logInfo("Requeued dead letters.").pipe(Effect.annotateLogs({ requeued }))
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        "Put dead letters back: pending again with fresh attempts, sent by the next run."
      )
    )

export const pruneCommand = (layers: AppLayers) =>
  Command.make("prune", {
    retention: duration(
      "retention",
      Env.RETENTION,
      Duration.days(30),
      { min: Duration.hours(1), max: Duration.days(3650) },
      "Keep rows younger than this. Older rows whose todo no longer exists with that due date are deleted."
    ),
    maxShare: integer(
      "max-share",
      Env.PRUNE_MAX_SHARE,
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
      const { pruned, todosTable } = yield* withAdmin(layers, "pruning", (admin) => admin.prune(before, guard))
      yield* Effect.logInfo("Pruned the job's state.").pipe(
        Effect.annotateLogs({ pruned, before: DateTime.formatIso(before), todosTable })
      )
    }).pipe(Effect.scoped)).pipe(
      Command.withDescription(
        "Delete old ledger rows of todos that were deleted or whose due date moved. Rows of todos that still " +
          "exist are kept: without them a todo would be notified again."
      )
    )

