/**
 * Telemetry's live layer: traces, metrics and logs over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set (its headers checked and never printed), and each run's metrics pushed to a Pushgateway when
 * PUSHGATEWAY_URL is set (MetricsPush/Live.ts); nothing otherwise.
 */
import * as Otlp from "@effect/opentelemetry/Otlp"
import { FetchHttpClient } from "@effect/platform"
import { Config, ConfigError, Either, Layer, Option, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import packageJson from "../../package.json" with { type: "json" }
import { Env } from "../lib/Environment.js"
import { TelemetryEnabled } from "../lib/Telemetry.js"
import { MetricsPushLive } from "../services/MetricsPush/Live.js"

/** OTEL_EXPORTER_OTLP_HEADERS as OpenTelemetry writes it: `key=value,key2=value2` (values may be URL-encoded). */
const otlpHeaders = Config.redacted(Env.OTEL_EXPORTER_OTLP_HEADERS).pipe(
  Config.mapOrFail((redacted) => {
    const headers: Record<string, string> = {}
    for (const pair of Redacted.value(redacted).split(",").filter((p) => p.trim() !== "")) {
      const at = pair.indexOf("=")
      if (at <= 0) {
        return Either.left(ConfigError.InvalidData([Env.OTEL_EXPORTER_OTLP_HEADERS], "Expected key=value pairs separated by commas"))
      }
      try {
        headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim())
      } catch {
        // The value is not shown: headers carry credentials.
        return Either.left(ConfigError.InvalidData([Env.OTEL_EXPORTER_OTLP_HEADERS], "A value is not valid URL encoding (a % not followed by two hex digits)"))
      }
    }
    return Either.right(headers)
  }),
  Config.option
)

const otlpEndpoint = Config.string(Env.OTEL_EXPORTER_OTLP_ENDPOINT).pipe(
  Config.validate({
    message: "Expected an http:// or https:// URL",
    validation: (url) => URL.canParse(url) && ["http:", "https:"].includes(new URL(url).protocol)
  }),
  Config.option
)

/** `service.instance.id` as OTEL_RESOURCE_ATTRIBUTES sets it, if it does. */
const instanceIdGiven = Config.string(Env.OTEL_RESOURCE_ATTRIBUTES).pipe(
  Config.map((text) => text.split(",").some((pair) => pair.split("=")[0]?.trim() === "service.instance.id")),
  Config.withDefault(false)
)

/**
 * Traces, metrics and logs over OTLP (HTTP, JSON) to OTEL_EXPORTER_OTLP_ENDPOINT, through
 * @effect/opentelemetry's own exporters (no OpenTelemetry SDK in the bundle), and TelemetryEnabled
 * on, so that the job keeps its metrics and span attributes. Without the variable this is the
 * empty layer: nothing leaves the process, nothing is batched, no metric is kept. Exports every
 * few seconds and once more when the command ends. Each process is an instance of its own
 * (`service.instance.id`, a random UUID unless OTEL_RESOURCE_ATTRIBUTES gives one), so the runs
 * one after another and the pods of a parallel Job each keep their own series.
 */
const OtlpLive = Layer.unwrapEffect(
  Config.all({
    endpoint: otlpEndpoint,
    headers: otlpHeaders,
    serviceName: Config.string(Env.OTEL_SERVICE_NAME).pipe(Config.withDefault("delay-notifications")),
    instanceIdGiven
  }).pipe(
    Config.map(({ endpoint, headers, instanceIdGiven, serviceName }) =>
      Option.match(endpoint, {
        onNone: () => Layer.empty,
        onSome: (baseUrl) =>
          Otlp.layerJson({
            baseUrl,
            resource: {
              serviceName,
              serviceVersion: packageJson.version,
              ...(instanceIdGiven ? {} : { attributes: { "service.instance.id": randomUUID() } })
            },
            headers: Option.getOrUndefined(headers),
            metricsExportInterval: "10 seconds",
            tracerExportInterval: "5 seconds",
            shutdownTimeout: "5 seconds"
          }).pipe(Layer.provide(FetchHttpClient.layer), Layer.merge(Layer.succeed(TelemetryEnabled, true)))
      })
    )
  )
)

/** OTLP and the Pushgateway, each when its variable is set. */
export const TelemetryLive = Layer.merge(OtlpLive, MetricsPushLive)
