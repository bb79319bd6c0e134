import type { CalendarDate } from "./Todo.js"

/** What one run did, counted as it went. */
export interface RunSummary {
  readonly reference: CalendarDate
  /** Delayed todos the run found. */
  readonly delayed: number
  readonly sent: number
  readonly failed: number
  /** Rows that could not be read as a delayed todo (reported with their key, not sent). */
  readonly skipped: number
}
