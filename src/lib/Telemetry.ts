/**
 * Telemetry: the job's metrics, whether traces and metrics leave the process (TelemetryEnabled),
 * and `Telemetry`, one object with a live form and a no-op form that each layer or run picks once.
 * The no-op form costs nothing on the path taken once per notification (no span, captured stack
 * or metric update: Effect.fn's cost showed in every profile, bench/NOTES.md, "Profile: hot spots found and what was changed").
 */
import { Context, Duration, Effect, type Fiber, Metric, MetricBoundaries, type Tracer } from "effect"
import { debugLogged } from "./Log.js"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * The job's metrics, in Effect's registry. They are updated only while telemetry is exported
 * (TelemetryEnabled, set by layers/TelemetryLive when OTEL_EXPORTER_OTLP_ENDPOINT is set): with
 * nothing to export them to, the job does not spend time keeping them.
 */
export const Metrics = {
  sent: counter("delay_notifications.sent", "Delay notifications the notify service accepted"),
  failed: counter(
    "delay_notifications.failed",
    "Delay notifications that failed in a run (tried again later, or dead letters)"
  ),
  deadLetters: counter("delay_notifications.dead_letters", "Delay notifications that failed their last allowed try"),
  retried: counter("delay_notifications.retried", "Requests sent again within a run after a transient failure"),
  throttled: counter(
    "delay_notifications.throttled",
    "Requests the notify service turned away to slow the job down (429, or 503 with Retry-After)"
  ),
  concurrencyLimit: Metric.gauge("delay_notifications.concurrency.limit", {
    description: "Requests to the notify service the job lets be in flight now (its adaptive limit, or the fixed --concurrency)"
  }),
  // A cron job's process lives for one run: these gauges carry what the run ended with, and what
  // the ledger holds then, for alerts that look at runs and at the backlog, not at one process.
  runExitCode: Metric.gauge("delay_notifications.run.exit_code", { description: "The exit code of the last run" }),
  runLastSuccess: Metric.gauge("delay_notifications.run.last_success_timestamp_seconds", {
    description: "When the last run that went through its backlog ended (exit 0 or 3), in seconds since the epoch"
  }),
  runThrottled: Metric.gauge("delay_notifications.run.throttled", {
    description: "Requests the notify service turned away in the last run (429, or 503 with Retry-After)"
  }),
  backlogPending: Metric.gauge("delay_notifications.backlog.pending", {
    description: "Pending todos due now that no run holds, as the last run ended"
  }),
  oldestPendingAge: Metric.gauge("delay_notifications.backlog.oldest_pending_age_seconds", {
    description: "Seconds since the due date of the oldest pending todo began (UTC), as the last run ended; 0 when none is pending"
  }),
  ledgerDeadLetters: Metric.gauge("delay_notifications.ledger.dead_letters", {
    description: "Dead letters in the ledger (notifications that failed their last allowed try), as the last run ended"
  }),
  notifyLatency: Metric.histogram(
    "delay_notifications.notify.duration",
    MetricBoundaries.exponential({ start: 2, factor: 2, count: 14 }),
    "Time of one request to the notify service, in milliseconds"
  )
} as const

/** Whether traces and metrics leave the process; false unless TelemetryLive turns it on. */
export class TelemetryEnabled extends Context.Reference<TelemetryEnabled>()("app/TelemetryEnabled", {
  defaultValue: () => false
}) {}

/** What the job tells telemetry; see the module comment. */
export interface Telemetry {
  /** Traces and metrics leave the process (the live form). */
  readonly exported: boolean
  /** Adds one to `metric`, then succeeds with `value`. */
  readonly counted: <A>(metric: Metric.Metric.Counter<number>, value: A) => Effect.Effect<A>
  /** Sets `metric` to `value` now (a gauge, outside any fiber: the concurrency limit changes on answers). */
  readonly gauge: (metric: Metric.Metric.Gauge<number>, value: number) => void
  /** `effect`, its duration recorded in `histogram` (milliseconds). */
  readonly timed: <A, E, R>(effect: Effect.Effect<A, E, R>, histogram: Metric.Metric.Histogram<number>) => Effect.Effect<A, E, R>
  /**
   * `f` as a function traced as `name` (Effect.fn: a span per call), its span annotated with
   * `attributes` of the arguments; the no-op form returns `f` itself.
   */
  readonly traced: <Args extends Array<any>, A, E, R>(
    name: string,
    f: (...args: Args) => Effect.Effect<A, E, R>,
    attributes?: (...args: Args) => Record<string, unknown>
  ) => (...args: Args) => Effect.Effect<A, E, R>
  /** `effect` with `parent` as its parent span (a context per call: only when traces leave the process). */
  readonly under: <A, E, R>(effect: Effect.Effect<A, E, R>, parent: Tracer.AnySpan) => Effect.Effect<A, E, R>
}

const liveTelemetry: Telemetry = {
  exported: true,
  counted: (metric, value) => Effect.as(Metric.increment(metric), value),
  gauge: (metric, value) => metric.unsafeUpdate(value, []),
  timed: (effect, histogram) => Metric.trackDurationWith(effect, histogram, Duration.toMillis),
  traced: (name, f, attributes) =>
    Effect.fn(name)(function*(...args) {
      if (attributes !== undefined) yield* Effect.annotateCurrentSpan(attributes(...args))
      return yield* f(...args)
    }),
  under: (effect, parent) => Effect.withParentSpan(effect, parent)
}

const noTelemetry: Telemetry = {
  exported: false,
  counted: (_, value) => Effect.succeed(value),
  gauge: () => {},
  timed: (effect) => effect,
  traced: (_, f) => f,
  under: (effect) => effect
}

/** The form of Telemetry for this process (read once by each layer or run that uses it). */
export const currentTelemetry: Effect.Effect<Telemetry> = Effect.map(
  TelemetryEnabled,
  (enabled) => (enabled ? liveTelemetry : noTelemetry)
)

/**
 * Nothing of this fiber's work is reported (no debug line, no trace or metric): the client and
 * the token fetch then take their shorter paths, with no log line or span to build.
 */
export const unobserved = (telemetry: Telemetry, fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  !telemetry.exported && !debugLogged(fiber)
