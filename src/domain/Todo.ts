/**
 * The todo as the job sees it: ids and the calendar due date as schemas, a delayed todo and a
 * claimed one, the message a workspace receives and the Idempotency-Key of each notification.
 */
import { Schema } from "effect"

/** A todo's id, as the todos service stores it (uuid). */
export const TodoId = Schema.UUID.pipe(Schema.brand("TodoId"))
export type TodoId = typeof TodoId.Type

/** The workspace a todo belongs to; notifications are scoped to it. */
export const WorkspaceId = Schema.UUID.pipe(Schema.brand("WorkspaceId"))
export type WorkspaceId = typeof WorkspaceId.Type

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

const isRealDate = (s: string): boolean => {
  const [year, month, day] = s.split("-").map(Number) as [number, number, number]
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)
}

/**
 * A calendar date (YYYY-MM-DD) with no time and no zone: due dates and reference dates are
 * compared as calendar dates, never as instants, so no machine time zone can shift them.
 */
export const CalendarDate = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "expected a date as YYYY-MM-DD" }),
  Schema.filter(isRealDate, { message: () => "no such calendar date" }),
  Schema.brand("CalendarDate")
)
export type CalendarDate = typeof CalendarDate.Type

/** A todo whose due date has passed, with just what the job needs of it. */
export const DelayedTodo = Schema.Struct({
  id: TodoId,
  workspaceId: WorkspaceId,
  dueDate: CalendarDate
})
export type DelayedTodo = typeof DelayedTodo.Type

/** A todo is delayed when it is due on or before the reference date (ISO dates sort as text). */
export const isDelayed = (dueDate: CalendarDate, reference: CalendarDate): boolean => dueDate <= reference

/** The notification text, worded exactly as the original job. */
export const delayMessage = (todo: Pick<DelayedTodo, "id">): string => `Todo ${todo.id} is delayed`

/** A delayed todo this run has claimed, with the attempts made before this one. */
export const ClaimedTodo = Schema.Struct({
  ...DelayedTodo.fields,
  attempts: Schema.Int
})
export type ClaimedTodo = typeof ClaimedTodo.Type

/**
 * The Idempotency-Key of a todo's notification: one per (workspace, todo, due date), so a resend
 * after a crash is recognised by the notify service, and a moved due date is a new notification.
 */
export const idempotencyKey = (todo: Pick<DelayedTodo, "workspaceId" | "id" | "dueDate">): string =>
  `delay-notification:${todo.workspaceId}:${todo.id}:${todo.dueDate}`
