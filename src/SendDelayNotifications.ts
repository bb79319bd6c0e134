import { Effect, Either } from "effect"
import { forEachConcurrently } from "./lib/Pipeline.js"
import type { RunSummary } from "./domain/RunSummary.js"
import { type CalendarDate, delayMessage, type DelayedTodo } from "./domain/Todo.js"
import { NotificationClient } from "./services/NotificationClient.js"
import { TodoRepository, type TodoRow, type UndecodableTodo } from "./services/TodoRepository.js"

type Outcome = "sent" | "failed" | "skipped"

/** Sends one todo's notification; a failure is logged for this todo alone and the run goes on. */
export const sendDelayNotification = Effect.fn("sendDelayNotification")(function*(todo: DelayedTodo) {
  const client = yield* NotificationClient
  return yield* client.send({ workspaceId: todo.workspaceId, todoId: todo.id, message: delayMessage(todo) }).pipe(
    Effect.as<Outcome>("sent"),
    Effect.catchTag("NotificationError", (error) =>
      Effect.logError("Could not send delayed todo. Skipping it...").pipe(
        Effect.annotateLogs({ workspaceId: todo.workspaceId, todoId: todo.id, error: error.message }),
        Effect.as<Outcome>("failed")
      ))
  )
})

const reportUndecodable = (row: UndecodableTodo) =>
  Effect.logError("Could not read delayed todo. Skipping it...").pipe(
    Effect.annotateLogs({ workspaceId: row.workspaceId, todoId: row.todoId, error: row.reason }),
    Effect.as<Outcome>("skipped")
  )

const handleRow = (row: TodoRow) => Either.match(row, { onLeft: reportUndecodable, onRight: sendDelayNotification })

/**
 * Notifies every todo delayed at `reference`. Notification failures are counted, not raised; a
 * database failure is logged and raised, so the run ends as aborted.
 */
export const sendDelayNotifications = Effect.fn("sendDelayNotifications")(function*(
  reference: CalendarDate,
  options: { readonly concurrency: number }
) {
  const repository = yield* TodoRepository
  yield* Effect.logInfo("Starting to send delay notifications.").pipe(Effect.annotateLogs({ startDate: reference }))
  const counts = { delayed: 0, sent: 0, failed: 0, skipped: 0 }
  const count = (outcome: Outcome) =>
    Effect.sync(() => {
      counts[outcome]++
      if (outcome !== "skipped") counts.delayed++
    })
  yield* forEachConcurrently(
    repository.delayedTodos(reference),
    (row) => Effect.flatMap(handleRow(row), count),
    { concurrency: options.concurrency }
  ).pipe(
    Effect.tapError((error) =>
      Effect.logError("Could not retrieve delayed todos from the database. Aborting job...").pipe(
        Effect.annotateLogs({ startDate: reference, error: error.message, sent: counts.sent, failed: counts.failed })
      )
    )
  )
  const summary: RunSummary = { reference, ...counts }
  yield* Effect.logInfo("Finished to send delay notifications.").pipe(
    Effect.annotateLogs({ startDate: reference, delayed: summary.delayed, sent: summary.sent, failed: summary.failed, skipped: summary.skipped })
  )
  return summary
})
