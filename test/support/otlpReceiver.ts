import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/** An OTLP attribute as the JSON encoding carries it. */
interface Attribute {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: string | number; readonly doubleValue?: number }
}

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes: Record<string, unknown>
}

const attributesOf = (attributes: ReadonlyArray<Attribute> = []) =>
  Object.fromEntries(
    attributes.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.doubleValue)])
  )

/**
 * A small OTLP/HTTP (JSON) receiver for the scope: it keeps what arrives at /v1/traces,
 * /v1/metrics and /v1/logs, and the headers it came with.
 */
export const serveOtlpReceiver = Effect.acquireRelease(
  Effect.async<{
    readonly url: string
    readonly requests: Array<{ readonly path: string; readonly headers: Record<string, unknown>; readonly body: any }>
    readonly close: () => void
  }>((resume) => {
    const requests: Array<{ path: string; headers: Record<string, unknown>; body: any }> = []
    const server = createServer((request, response) => {
      let text = ""
      request.on("data", (chunk) => (text += chunk))
      request.on("end", () => {
        requests.push({ path: request.url ?? "", headers: request.headers, body: JSON.parse(text) })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, requests, close: () => server.close() }))
    })
  }),
  (receiver) => Effect.sync(() => receiver.close())
)

type Receiver = Effect.Effect.Success<typeof serveOtlpReceiver>

/** Every span received, flattened. */
export const spansOf = (receiver: Receiver): Array<ReceivedSpan> =>
  receiver.requests
    .filter((r) => r.path === "/v1/traces")
    .flatMap((r) => r.body.resourceSpans ?? [])
    .flatMap((rs: any) => rs.scopeSpans ?? [])
    .flatMap((ss: any) => ss.spans ?? [])
    .map((span: any) => ({ ...span, attributes: attributesOf(span.attributes) }))

/** The resource attributes of the first export of `path`. */
export const resourceOf = (receiver: Receiver, path: string) => {
  const first = receiver.requests.find((r) => r.path === path)?.body
  const resource = (first?.resourceSpans ?? first?.resourceMetrics)?.[0]?.resource
  return attributesOf(resource?.attributes)
}

/** The last value received for each metric: a counter's total or a gauge's value, a histogram's count and sum. */
export const metricsOf = (receiver: Receiver) => {
  const latest = new Map<string, { readonly value?: number; readonly count?: number; readonly sum?: number }>()
  for (const request of receiver.requests.filter((r) => r.path === "/v1/metrics")) {
    for (const rm of request.body.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          const points = metric.sum ?? metric.gauge
          if (points !== undefined) {
            const point = points.dataPoints.at(-1)
            latest.set(metric.name, { value: Number(point.asInt ?? point.asDouble) })
          } else if (metric.histogram !== undefined) {
            const point = metric.histogram.dataPoints.at(-1)
            latest.set(metric.name, { count: Number(point.count), sum: Number(point.sum) })
          }
        }
      }
    }
  }
  return latest
}

/** Every metric received as OTLP describes it: name, unit, and its kind (a sum's monotonicity). */
export const metricDescriptionsOf = (receiver: Receiver) => {
  const described = new Map<string, { readonly unit: string; readonly instrument: "counter" | "updown" | "gauge" | "histogram" }>()
  for (const request of receiver.requests.filter((r) => r.path === "/v1/metrics")) {
    for (const rm of request.body.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          const instrument = metric.sum !== undefined
            ? (metric.sum.isMonotonic === true ? "counter" : "updown")
            : metric.gauge !== undefined
            ? "gauge"
            : "histogram"
          described.set(metric.name, { unit: metric.unit ?? "", instrument })
        }
      }
    }
  }
  return described
}
