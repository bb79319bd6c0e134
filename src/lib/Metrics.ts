import { Context, Effect, Metric, MetricBoundaries } from "effect"

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

/** Adds one to a counter when telemetry is exported (a lookup per call: for rare events only). */
export const countOne = (metric: Metric.Metric.Counter<number>) =>
  Effect.flatMap(TelemetryEnabled, (enabled) => (enabled ? Metric.increment(metric) : Effect.void))
