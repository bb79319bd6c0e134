/**
 * Telemetry: the job's metrics, whether traces and metrics leave the process (TelemetryEnabled),
 * and `Telemetry`, one object with a live form and a no-op form that each layer or run picks once.
 * The no-op form costs nothing on the path taken once per notification (no span, captured stack
 * or metric update: Effect.fn's cost showed in every profile, bench/NOTES.md, "Profile: hot spots found and what was changed").
 */
import { Context, Duration, Effect, type Fiber, Metric, MetricBoundaries, type Tracer } from "effect"
import { MetricsPush } from "../services/MetricsPush.js"
import { debugLogged } from "./Log.js"

/**
 * Each instrument carries its unit after OpenTelemetry's semantic conventions: `s` for durations
 * and timestamps, an annotation in braces (`{todo}`, `{request}`) for counts and codes, "1" only
 * for a true ratio (the job has none). A Collector's Prometheus exporter turns `s` into a
 * `_seconds` suffix and leaves annotations out of the name (docs/operations.md).
 */
type Unit = "s" | "{todo}" | "{request}" | "{code}"

/** One of the job's instruments, as declared: what deploy/monitoring derives names from. */
export interface MetricDeclaration {
  readonly instrument: "counter" | "gauge" | "histogram"
  readonly name: string
  readonly unit: Unit
  readonly description: string
}

const counter = (name: string, unit: Unit, description: string) => ({ instrument: "counter", name, unit, description }) as const
const gauge = (name: string, unit: Unit, description: string) => ({ instrument: "gauge", name, unit, description }) as const

/**
 * The job's metrics, declared. In Effect's registry (`Metrics`) they are updated only while
 * metrics leave the process (over OTLP, or to a Pushgateway: layers/TelemetryLive): with nowhere
 * to send them, the job does not spend time keeping them.
 */
export const MetricDeclarations = {
  sent: counter("delay_notifications.sent", "{todo}", "Delay notifications the notify service accepted"),
  failed: counter(
    "delay_notifications.failed",
    "{todo}",
    "Delay notifications that failed in a run (tried again later, or dead letters)"
  ),
  deadLetters: counter("delay_notifications.dead_letters", "{todo}", "Delay notifications that failed their last allowed try"),
  retried: counter("delay_notifications.retried", "{request}", "Requests sent again within a run after a transient failure"),
  throttled: counter(
    "delay_notifications.throttled",
    "{request}",
    "Requests the notify service turned away to slow the job down (429, or a 503 with Retry-After or while other requests are accepted)"
  ),
  concurrencyLimit: gauge(
    "delay_notifications.concurrency.limit",
    "{request}",
    "Requests to the notify service the job lets be in flight now (its adaptive limit, or the fixed --concurrency)"
  ),
  // A cron job's process lives for one run: these gauges carry what the run ended with, and what
  // the ledger holds then, for alerts that look at runs and at the backlog, not at one process.
  runExitCode: gauge("delay_notifications.run.exit_code", "{code}", "The exit code of the last run (or of a migrate that failed)"),
  runEnd: gauge(
    "delay_notifications.run.end_timestamp",
    "s",
    "When the last run (or a migrate that failed) ended, in seconds since the epoch: which run is the newest"
  ),
  runLastSuccess: gauge(
    "delay_notifications.run.last_success_timestamp",
    "s",
    "When the last run that went through its backlog ended (exit 0 or 3), in seconds since the epoch"
  ),
  runSent: gauge("delay_notifications.run.sent", "{todo}", "Delay notifications the last run sent"),
  runFailed: gauge("delay_notifications.run.failed", "{todo}", "Delay notifications that failed in the last run"),
  runDeadLetters: gauge("delay_notifications.run.dead_letters", "{todo}", "Delay notifications that became dead letters in the last run"),
  runThrottled: gauge(
    "delay_notifications.run.throttled",
    "{request}",
    "Requests the notify service turned away in the last run (429, or a 503 with Retry-After or while other requests are accepted)"
  ),
  backlogPending: gauge("delay_notifications.backlog.pending", "{todo}", "Pending todos due now that no run holds, as the last run ended"),
  oldestPendingAge: gauge(
    "delay_notifications.backlog.oldest_pending_age",
    "s",
    "Seconds since the due date of the oldest pending todo began (UTC), as the last run ended; 0 when none is pending"
  ),
  ledgerDeadLetters: gauge(
    "delay_notifications.ledger.dead_letters",
    "{todo}",
    "Dead letters in the ledger (notifications that failed their last allowed try), as the last run ended"
  ),
  notifyLatency: {
    instrument: "histogram",
    name: "delay_notifications.notify.duration",
    unit: "s",
    description: "Time of one request to the notify service, in seconds"
  }
} as const satisfies Record<string, MetricDeclaration>

type Declared = typeof MetricDeclarations
type MetricOf<D extends MetricDeclaration> = D["instrument"] extends "counter" ? Metric.Metric.Counter<number>
  : D["instrument"] extends "gauge" ? Metric.Metric.Gauge<number>
  : Metric.Metric.Histogram<number>

/**
 * Each metric in Effect's registry, its unit in the `unit` tag: @effect/opentelemetry reads it
 * there (and writes "1" where there is none, which a Collector turns into a `_ratio` suffix).
 */
const metricOf = (declaration: MetricDeclaration) => {
  const { description, name, unit } = declaration
  const metric = declaration.instrument === "counter"
    ? Metric.counter(name, { description, incremental: true })
    : declaration.instrument === "gauge"
    ? Metric.gauge(name, { description })
    : Metric.histogram(name, MetricBoundaries.exponential({ start: 0.002, factor: 2, count: 14 }), description)
  return Metric.tagged(metric as Metric.Metric<any, number, unknown>, "unit", unit)
}

/** The job's metrics in Effect's registry (see MetricDeclarations). */
export const Metrics = Object.fromEntries(
  Object.entries(MetricDeclarations).map(([key, declaration]) => [key, metricOf(declaration)])
) as unknown as { readonly [K in keyof Declared]: MetricOf<Declared[K]> }

/** Whether traces and metrics leave the process; false unless TelemetryLive turns it on. */
export class TelemetryEnabled extends Context.Reference<TelemetryEnabled>()("app/TelemetryEnabled", {
  defaultValue: () => false
}) {}

/** What the job tells telemetry; see the module comment. */
export interface Telemetry {
  /** Metrics leave the process (over OTLP, or pushed at the end of a run): the job keeps them. */
  readonly exported: boolean
  /** Adds one to `metric`, then succeeds with `value`. */
  readonly counted: <A>(metric: Metric.Metric.Counter<number>, value: A) => Effect.Effect<A>
  /** Sets `metric` to `value` now (a gauge, outside any fiber: the concurrency limit changes on answers). */
  readonly gauge: (metric: Metric.Metric.Gauge<number>, value: number) => void
  /** `effect`, its duration recorded in `histogram` (seconds). */
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
  timed: (effect, histogram) => Metric.trackDurationWith(effect, histogram, Duration.toSeconds),
  traced: (name, f, attributes) =>
    Effect.fn(name)(function*(...args) {
      if (attributes !== undefined) yield* Effect.annotateCurrentSpan(attributes(...args))
      return yield* f(...args)
    }),
  under: (effect, parent) => Effect.withParentSpan(effect, parent)
}

/** Metrics kept for a push at the end of the run, with no traces (no span is made). */
const metricsOnly: Telemetry = {
  ...liveTelemetry,
  traced: (_, f) => f,
  under: (effect) => effect
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
  Effect.all([TelemetryEnabled, MetricsPush]),
  ([enabled, push]) => (enabled ? liveTelemetry : push.enabled ? metricsOnly : noTelemetry)
)

/** Sends the job's metrics to where MetricsPush points (a Pushgateway), if anywhere. */
export const pushMetrics: Effect.Effect<void> = Effect.flatMap(MetricsPush, (push) => push.push)

/**
 * Nothing of this fiber's work is reported (no debug line, no trace or metric): the client and
 * the token fetch then take their shorter paths, with no log line or span to build.
 */
export const unobserved = (telemetry: Telemetry, fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  !telemetry.exported && !debugLogged(fiber)
