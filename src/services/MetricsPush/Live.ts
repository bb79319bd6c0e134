/**
 * MetricsPush's live layer: with PUSHGATEWAY_URL set, the job's metrics are pushed to that
 * Prometheus Pushgateway at the end of each run, in the Prometheus text format written by
 * prom-client, grouped by job (OTEL_SERVICE_NAME) and instance (PUSHGATEWAY_INSTANCE). A push
 * replaces its group whole (PUT): the group holds the newest run and nothing of the one before.
 * The names are those an OpenTelemetry Collector's Prometheus exporter writes from the same
 * metrics over OTLP, so one set of alerts serves both ways (docs/operations.md).
 */
import { Config, Effect, Layer, Metric, type MetricKey, MetricKeyType, MetricState, Option } from "effect"
import { Env } from "../../lib/Environment.js"
import { MetricsPush } from "../MetricsPush.js"

/**
 * The name a Collector's Prometheus exporter gives a metric of the job, by its default rules
 * (add_metric_suffixes): every character outside [a-zA-Z0-9:] splits the name into words joined
 * by `_`; unit `s` adds `seconds` unless the name has that word; a unit in braces adds nothing; a
 * counter ends in `total`. The job uses no other unit.
 */
export const prometheusName = (key: MetricKey.MetricKey.Untyped): string => {
  const unit = key.tags.find((tag) => tag.key === "unit")?.value
  let words = key.name.split(/[^a-zA-Z0-9:]+/).filter((word) => word !== "")
  if (unit === "s" && !words.includes("seconds")) words.push("seconds")
  if (MetricKeyType.isCounterKey(key.keyType)) words = [...words.filter((word) => word !== "total"), "total"]
  return words.join("_")
}

/** The job's own metrics (not Effect's runtime metrics), as they stand now. */
const jobMetrics = () => Metric.unsafeSnapshot().filter(({ metricKey }) => metricKey.name.startsWith("delay_notifications."))

/** Pushes the job's metrics; fails with the client's error. */
const pushTo = (url: string, job: string, instance: string, timeoutMs: number) =>
  Effect.tryPromise(async () => {
    // Loaded only when a push is made: the job's start does not pay for it.
    const { Counter, Gauge, Histogram, Pushgateway, Registry } = await import("prom-client")
    const registry = new Registry()
    for (const { metricKey, metricState } of jobMetrics()) {
      const name = prometheusName(metricKey)
      const help = Option.getOrElse(metricKey.description, () => metricKey.name)
      if (MetricState.isCounterState(metricState)) {
        new Counter({ name, help, registers: [registry] }).inc(Number(metricState.count))
      } else if (MetricState.isGaugeState(metricState)) {
        new Gauge({ name, help, registers: [registry] }).set(Number(metricState.value))
      } else if (MetricState.isHistogramState(metricState)) {
        // The histogram as Effect kept it (its cumulative buckets, count and sum), handed to
        // prom-client's text format through the metric's own `get`.
        const state = metricState
        new (class extends Histogram {
          override async get() {
            const base = await super.get()
            const bucket = `${name}_bucket`
            return {
              ...base,
              values: [
                ...state.buckets.map(([le, count]) => ({
                  metricName: bucket,
                  labels: { le: Number.isFinite(le) ? le : "+Inf" },
                  value: count
                })),
                { metricName: `${name}_sum`, labels: {}, value: state.sum },
                { metricName: `${name}_count`, labels: {}, value: state.count }
              ]
            }
          }
        })({ name, help, registers: [registry], buckets: [] })
      }
    }
    await new Pushgateway(url, { timeout: timeoutMs }, registry).push({ jobName: job, groupings: { instance } })
  })

const pushgatewayUrl = Config.string(Env.PUSHGATEWAY_URL).pipe(
  Config.validate({
    message: "Expected an http:// or https:// URL",
    validation: (url) => URL.canParse(url) && ["http:", "https:"].includes(new URL(url).protocol)
  }),
  Config.option
)

export const MetricsPushLive = Layer.unwrapEffect(
  Config.all({
    url: pushgatewayUrl,
    job: Config.string(Env.OTEL_SERVICE_NAME).pipe(Config.withDefault("delay-notifications")),
    instance: Config.nonEmptyString(Env.PUSHGATEWAY_INSTANCE).pipe(Config.withDefault("default"))
  }).pipe(
    Config.map(({ instance, job, url }) =>
      Option.match(url, {
        onNone: () => Layer.empty,
        onSome: (url) =>
          Layer.succeed(MetricsPush, {
            enabled: true,
            push: pushTo(url, job, instance, 5_000).pipe(
              Effect.catchAll((error) =>
                // The URL is not shown: it may carry credentials.
                Effect.logWarning("Could not push the run's metrics to the Pushgateway (PUSHGATEWAY_URL).").pipe(
                  Effect.annotateLogs({ error: describePushError(error.error) })
                )
              )
            )
          })
      })
    )
  )
)

/** What went wrong with a push, without the URL (it may carry credentials). */
const describePushError = (error: unknown): string => {
  const text = error instanceof Error ? error.message : String(error)
  return text.replace(/https?:\/\/\S+/g, "<PUSHGATEWAY_URL>")
}
