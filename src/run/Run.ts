/**
 * What the steps of a run share: its options, the batches it holds, its state and the ports it
 * uses. `sendDelayNotifications` (SendDelayNotifications.ts) makes one Run and hands it to each
 * step: enqueueing and claiming (Claims.ts), the workers (Workers.ts), writing outcomes
 * (Outcomes.ts) and progress (ProgressReport.ts).
 */
import { type Clock, Duration, type Effect, Schema, type Tracer } from "effect"
import type { RetryPolicy } from "../domain/RetryPolicy.js"
import type { StopSignal } from "../domain/RunSummary.js"
import type { CalendarDate, ClaimedTodo } from "../domain/Todo.js"
import type { FeedBatch } from "../lib/Feed.js"
import type { ConcurrencyLimit } from "../lib/ConcurrencyLimit.js"
import type { Telemetry } from "../lib/Telemetry.js"
import type { NotificationClient } from "../services/NotificationClient.js"
import type { Outcome, TodoRepository } from "../services/TodoRepository.js"
import type { RunState } from "./RunState.js"
import type { Throttling } from "./Throttling.js"

export interface RunOptions {
  /** This run's id: it owns the claims it makes. */
  readonly runId: string
  /** Notifications in flight at once: the ceiling of the adaptive limit, or the fixed number. */
  readonly concurrency: number
  /** Find the notify service's limit below `concurrency` (the default), or keep to `concurrency` (false). */
  readonly adaptive?: boolean | undefined
  /** Todos claimed per round trip. */
  readonly batchSize: number
  /** How long a claim holds without renewal; the run renews its live claims every quarter of it. */
  readonly lease: Duration.Duration
  readonly retry: RetryPolicy
  /** Notifications per second toward the notify service; none: as fast as answers come. */
  readonly rate?: number | undefined
  /** Claim round-robin over workspaces instead of oldest first. */
  readonly fair?: boolean | undefined
  /** Completes when the process is asked to stop (SIGTERM/SIGINT): claim no more, finish what is in flight. */
  readonly stopSignal?: Effect.Effect<StopSignal> | undefined
  /** How long in-flight sends may take after a stop signal before they are cut off. */
  readonly grace?: Duration.Duration | undefined
  /** The notify service counts as down after this many notifications in a row fail transiently (after their retries). */
  readonly outageAfter?: number | undefined
  /** --at: the run replays a reference of the operator's choosing, and reads the whole todos table. */
  readonly replay?: boolean | undefined
  /** How often a run reads the whole todos table (default 24 hours); the runs between read a window. */
  readonly fullPassEvery?: Duration.Duration | undefined
  /** How often progress is reported (default 10 seconds); the first report comes after one period. */
  readonly progressEvery?: Duration.Duration | undefined
}

/** A lease too short for one send: a claim could lapse mid-send and another run send the todo too. */
export class LeaseTooShort extends Schema.TaggedError<LeaseTooShort>()("LeaseTooShort", {
  lease: Schema.DurationFromSelf,
  minimum: Schema.DurationFromSelf
}) {
  override get message(): string {
    return `--lease ${Duration.format(this.lease)} is shorter than one notification can take with its retries: ` +
      `give at least ${Duration.format(this.minimum)}, or lower NOTIFY_TIMEOUT, NOTIFY_RETRIES or NOTIFY_RETRY_BUDGET`
  }
}

/** The shortest lease that lets every send start with its claim sure to outlive it (renewed every quarter). */
export const minimumLease = (longestSend: Duration.Duration): Duration.Duration =>
  Duration.millis(Math.ceil(((Duration.toMillis(longestSend) + 1000) * 4) / 3))

/**
 * A claimed batch: its todos (from `next` on untaken, handed back if the run ends first); its
 * outcomes are written back together once every todo of it is done (or, when the run stops, as
 * far as they are known). Its span runs from the claim to that write.
 */
export interface Batch extends FeedBatch<ClaimedTodo> {
  readonly outcomes: Array<Outcome>
  /** Until when, by this process's Clock, the run surely holds these claims (renewals push it on). */
  deadline: number
  readonly span: Tracer.Span
  /** The longest wait of its todos handed back for their workspace's turn (ms; the run claims them again). */
  backInMs?: number
}

/** How far the backlog has entered the ledger (it is added in parts while claims run). */
export interface Enqueueing {
  /** Every part is in: an empty claim is then the end. */
  done: boolean
  added: number
  of: number
}

export interface Run {
  readonly reference: CalendarDate
  readonly options: RunOptions
  readonly repository: TodoRepository["Type"]
  readonly client: NotificationClient["Type"]
  readonly clock: Clock.Clock
  readonly telemetry: Telemetry
  readonly state: RunState
  /** Batches claimed and not yet written (all their claims still this run's). */
  readonly live: Set<Batch>
  /** How many sends may be in flight now. */
  readonly limit: ConcurrencyLimit
  /** Throttled todos waiting to be sent again, and who is slowed. */
  readonly throttling: Throttling<Batch>
  readonly enqueueing: Enqueueing
  /** The run's span: its batches' parent, whichever step claimed them. */
  readonly span: Tracer.AnySpan | undefined
  /** The run's start, by its Clock (milliseconds). */
  readonly startedAt: number
  readonly leaseMs: number
  /** The longest one send can take (milliseconds): a send starts only if its claim surely outlives it. */
  readonly longestSendMs: number
}
