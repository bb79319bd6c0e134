import { Metric, MetricBoundaries } from "effect"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * The job's metrics. They live in Effect's in-memory registry and cost a counter update each;
 * they leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set (layers/TelemetryLive).
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
